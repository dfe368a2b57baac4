from django.urls import path

from .web import dashboard_views, live_views, views

app_name = "llm"
urlpatterns = [
    path("", views.calls, name="calls"),
    path("calls/<int:pk>/", views.call_detail, name="call"),
    path("calls/<int:pk>/file/", views.call_file, name="call-file"),
    path("providers/", views.providers, name="providers"),
    path("dashboard/", dashboard_views.dashboard, name="dashboard"),
    path("dashboard/export.csv", dashboard_views.export_csv, name="dashboard-csv"),
    path("health/", dashboard_views.health, name="health"),
    path("prompt/", views.prompt, name="prompt"),
    path("playground/", views.prompt, name="playground"),
    path("prompt/estimate/", views.prompt_estimate, name="prompt-estimate"),
    path("jobs/<int:pk>/", views.job, name="job"),
    path("jobs/<int:pk>/live/", live_views.job_live, name="job-live"),
    path("jobs/<int:pk>/stop/", live_views.job_stop, name="job-stop"),
    path("manual/", views.manual_list, name="manual-list"),
    path("manual/<int:pk>/", views.manual_detail, name="manual-detail"),
]
urlpatterns += [
    path("images/", views.images, name="images"),
    path("images/<int:pk>/", views.image, name="image"),
    path("images/<int:pk>/file/", views.image_file, name="image-file"),
]
