from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, render

from .forms import ProductFilterForm
from .models import Product

PRODUCTS_PER_PAGE = 50


def product_list(request):
    form = ProductFilterForm(request.GET or None)
    products = form.filter(Product.objects.select_related("category", "subcategory")).defer("description", "attributes")
    page = Paginator(products, PRODUCTS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "products/list.html", {"form": form, "page": page, "products": page.object_list})


def product_detail(request, pk: int):
    # The catalog is shared: every signed-in user sees every product.
    product = get_object_or_404(Product.objects.select_related("category", "subcategory"), pk=pk)
    return render(request, "products/detail.html", {"product": product, "attribute_rows": product.attribute_rows()})
