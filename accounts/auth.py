from ninja.security import HttpBearer

from .models import ApiToken


class ApiTokenAuth(HttpBearer):
    """``Authorization: Bearer llmp_…`` for scripts."""

    def authenticate(self, request, token):
        user = ApiToken.authenticate(token)
        if user is not None:
            request.user = user
        return user
