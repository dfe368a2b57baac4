from axes.backends import AxesStandaloneBackend


class LoginLockoutBackend(AxesStandaloneBackend):
    """django-axes' lockout check for every login that has a request (the login page, the admin).

    ``authenticate()`` without a request (the test client's ``login()``, a script) has no client
    address to count against: axes would raise, so this backend lets the next backend decide.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
