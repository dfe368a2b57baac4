from django.shortcuts import render

from products.models import Product


def index(request):
    return render(request, "segmentation/index.html", {"product_count": Product.objects.count()})
