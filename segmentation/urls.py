from django.urls import path

from . import views

app_name = "segmentation"
urlpatterns = [
    path("", views.index, name="index"),
]
