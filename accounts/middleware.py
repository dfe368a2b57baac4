from django.contrib.auth.middleware import LoginRequiredMiddleware as _DjangoLoginRequired


class LoginRequiredMiddleware(_DjangoLoginRequired):
    """Every page needs a user, except the login page, the health checks and the JSON API.

    The API answers 401 itself (session or token auth in ``config.api``) instead of
    redirecting a script to an HTML login form.
    """

    open_prefixes = ("/api/", "/healthz", "/readyz", "/static/")

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.path.startswith(self.open_prefixes):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)
