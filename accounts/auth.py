from ninja.errors import HttpError
from ninja.security import HttpBearer

from .models import SCOPE_READ, SCOPE_WRITE, ApiToken, TokenRefused
from .throttling import TokenFailureLimit

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class ApiTokenAuth(HttpBearer):
    """``Authorization: Bearer llmp_…`` for scripts.

    The scope a request needs is ``scope`` when given (the capture endpoint says "capture"),
    else read for GET/HEAD and write for the rest. A token that is unknown, revoked, expired or
    too narrow is refused with 401/403 and a message saying why (no fallback to the session);
    refused tokens are counted per client address (``TokenFailureLimit``).
    """

    failures = TokenFailureLimit()

    def __init__(self, scope: str | None = None):
        super().__init__()
        self.scope = scope

    def authenticate(self, request, token):
        self.failures.check(request)
        scope = self.scope or (SCOPE_READ if request.method in SAFE_METHODS else SCOPE_WRITE)
        try:
            api_token = ApiToken.verify(token, scope)
        except TokenRefused as refused:
            if refused.counts_as_failure:
                self.failures.record_failure(request)
            raise HttpError(refused.status, refused.message) from None
        request.user = api_token.user
        request.api_token = api_token
        return api_token.user
