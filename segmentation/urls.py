from django.urls import path

from . import views, views_evals

app_name = "segmentation"
urlpatterns = [
    path("", views.index, name="index"),
    path("new/", views.new_run, name="new"),
    path("runs/<str:run_id>/", views.run_detail, name="run"),
    path("runs/<str:run_id>/progress/", views.run_progress, name="progress"),
    path("runs/<str:run_id>/results/", views.run_results, name="results"),
    path("runs/<str:run_id>/results/segments/", views.run_results_segments, name="results-segments"),
    path("runs/<str:run_id>/results/segments/<int:taxonomy_id>/", views.run_results_segment, name="results-segment"),
    path("runs/<str:run_id>/results/changes/", views.run_results_changes, name="results-changes"),
    path("runs/<str:run_id>/results/calls/", views.run_results_calls, name="results-calls"),
    path("runs/<str:run_id>/export.csv", views.run_export, name="export"),
    path("runs/<str:run_id>/review/", views_evals.review, name="review"),
    path("runs/<str:run_id>/review/mark/", views_evals.mark, name="review-mark"),
    path("runs/<str:run_id>/promote/", views_evals.promote, name="promote"),
    path("runs/<str:run_id>/cancel/", views.run_cancel, name="cancel"),
    path("runs/<str:run_id>/resume/", views.run_resume, name="resume"),
]
