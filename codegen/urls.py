from django.urls import path

from . import views

app_name = "codegen"
urlpatterns = [
    path("", views.index, name="index"),
]
