from django.urls import path

from . import views

app_name = "codegen"
urlpatterns = [
    path("", views.index, name="index"),
    path("runs/<str:run_id>/", views.run_detail, name="run"),
    path("runs/<str:run_id>/files/<int:file_id>/", views.file_detail, name="file"),
    path("runs/<str:run_id>/download/", views.download, name="download"),
    path("runs/<str:run_id>/steps/<str:key>/rerun/", views.rerun_step, name="rerun"),
]
