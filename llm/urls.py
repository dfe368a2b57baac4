from django.urls import path

from . import views

app_name = "llm"
urlpatterns = [
    path("", views.calls, name="calls"),
    path("calls/<int:pk>/", views.call_detail, name="call"),
    path("calls/<int:pk>/file/", views.call_file, name="call-file"),
    path("providers/", views.providers, name="providers"),
    path("prompt/", views.prompt, name="prompt"),
    path("jobs/<int:pk>/", views.job, name="job"),
    path("manual/", views.manual_list, name="manual-list"),
    path("manual/<int:pk>/", views.manual_detail, name="manual-detail"),
]
