from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from accounts.views import home
from ops.views import healthz, readyz

from .api import api

urlpatterns = [
    path("", home, name="home"),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/", include("accounts.urls")),
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("llm/", include("llm.urls")),
    path("notes/", include("notes.urls")),
    path("artifacts/", include("artifacts.urls")),
    path("products/", include("products.urls")),
    path("segmentation/", include("segmentation.urls")),
    path("codegen/", include("codegen.urls")),
    path("evals/", include("evals.urls")),
]
