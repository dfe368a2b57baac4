from django.urls import path

from . import views

app_name = "evals"
urlpatterns = [
    path("", views.experiments, name="experiments"),
    path("experiments/<int:pk>/", views.experiment_detail, name="experiment"),
    path("experiments/<int:pk>/progress/", views.experiment_progress, name="experiment-progress"),
    path("experiments/<int:pk>/cancel-batch/", views.experiment_cancel_batch, name="experiment-cancel-batch"),
    path("experiments/<int:pk>/export.csv", views.experiment_csv, name="experiment-csv"),
    path("suites/<str:name>/", views.suite_history, name="suite"),
    path("promote/query/<int:pk>/", views.promote_query, name="promote-query"),
]
