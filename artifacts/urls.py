from django.urls import path

from . import views

app_name = "artifacts"
urlpatterns = [
    path("", views.index, name="index"),
    path("note/<int:note_id>/preview/", views.preview, name="preview"),
    path("note/<int:note_id>/generate/", views.generate, name="generate"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/status/", views.status, name="status"),
    path("<int:pk>/live/", views.live_events, name="live"),
    path("<int:pk>/stop/", views.stop, name="stop"),
    path("<int:pk>/paste/", views.paste, name="paste"),
    path("<int:pk>/edit/", views.edit, name="edit"),
    path("<int:pk>/regenerate/", views.regenerate, name="regenerate"),
    path("<int:pk>/promote/", views.promote, name="promote"),
    path("<int:pk>/rate/", views.rate, name="rate"),
    path("analytics/", views.analytics_page, name="analytics"),
    path("keys/", views.keys, name="keys"),
    path("keys/<int:pk>/delete/", views.key_delete, name="key-delete"),
    path("webhooks/", views.webhook_list, name="webhooks"),
    path("webhooks/<int:pk>/delete/", views.webhook_delete, name="webhook-delete"),
    path("batch/", views.batch_create, name="batch-create"),
    path("batch/<int:pk>/", views.batch, name="batch"),
    path("batch/<int:pk>/progress/", views.batch_progress, name="batch-progress"),
    path("batch/<int:pk>/cancel/", views.batch_cancel, name="batch-cancel"),
]
