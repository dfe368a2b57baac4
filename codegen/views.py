from django.shortcuts import render


def index(request):
    return render(request, "codegen/index.html")
