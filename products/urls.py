from django.urls import path

from . import views, views_generation

app_name = "products"
urlpatterns = [
    path("", views.product_list, name="list"),
    path("<int:pk>/", views.product_detail, name="detail"),
    path("generate/", views_generation.wizard_start, name="wizard"),
    path("generate/<int:pk>/", views_generation.wizard_session, name="wizard-session"),
    path("generate/<int:pk>/step/<int:step>/", views_generation.wizard_step, name="wizard-step"),
    path("generate/<int:pk>/promote/", views_generation.wizard_promote, name="wizard-promote"),
    path("generate/<int:pk>/content/live/", views_generation.content_events, name="wizard-content-live"),
    path("generate/<int:pk>/content/stop/", views_generation.content_stop, name="wizard-content-stop"),
    path("generate/bulk/", views_generation.bulk_list, name="bulk"),
    path("generate/bulk/<int:pk>/", views_generation.bulk_detail, name="bulk-detail"),
    path("generate/bulk/<int:pk>/cancel/", views_generation.bulk_cancel, name="bulk-cancel"),
]
