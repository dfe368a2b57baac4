import hmac

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.cache import never_cache

from .checks import readiness


@never_cache
def healthz(request):
    """The process is up (load balancers: liveness). Touches nothing else."""
    return JsonResponse({"status": "ok"})


def may_see_details(request) -> bool:
    """Staff (session) or a probe holding READYZ_TOKEN (Authorization: Bearer or X-Probe-Token)."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.is_staff:
        return True
    token = settings.READYZ_TOKEN
    if not token:
        return False
    given = request.headers.get("X-Probe-Token", "")
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if not given and scheme.lower() == "bearer":
        given = value.strip()
    return bool(given) and hmac.compare_digest(given.encode(), token.encode())


@never_cache
def readyz(request):
    """Database, broker and storage reachable, providers configured (load balancers: readiness).

    Anyone gets ``{"status": "ok"}`` (200) or ``{"status": "error"}`` (503); which check failed,
    backend names and error texts only go to staff and holders of the probe token.
    """
    results = readiness()
    ok = all(r["ok"] for r in results.values())
    body = {"status": "ok" if ok else "error"}
    if may_see_details(request):
        body["checks"] = results
    return JsonResponse(body, status=200 if ok else 503)
