"""Give every web request a request id: in the logs, on the tasks it starts, in its LLM call rows."""

import logging
import time

from django.conf import settings

from . import context

logger = logging.getLogger("ops.request")

HEADER = "X-Request-ID"
# Probes and static files would drown the request log: they are logged at DEBUG only.
QUIET_PATHS = ("/healthz", "/readyz")


class RequestIdMiddleware:
    """Take the caller's ``X-Request-ID`` if it is safe to echo, else make one; answer with it.

    A proxy or load balancer that already sets ``X-Request-ID`` keeps its id end to end. Anything
    else in the header (too long, spaces, quotes, newlines) is replaced, never passed on into
    logs and the database.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get(HEADER, "")
        request_id = incoming if context.is_valid_request_id(incoming) else context.new_request_id()
        request.request_id = request_id
        token = context.set_request_id(request_id)
        started = time.monotonic()
        try:
            response = self.get_response(request)
            response[HEADER] = request_id
            self._log(request, response.status_code, started)
            return response
        finally:
            context.reset_request_id(token)

    @staticmethod
    def _log(request, status: int, started: float) -> None:
        quiet = request.path.startswith(QUIET_PATHS) or request.path.startswith("/" + settings.STATIC_URL.lstrip("/"))
        # The path only: query strings can carry tokens.
        logger.log(
            logging.DEBUG if quiet else logging.INFO, "%s %s %s", request.method, request.path, status,
            extra={"method": request.method, "path": request.path, "status": status,
                   "duration_ms": round((time.monotonic() - started) * 1000)},
        )
