from django.http import JsonResponse
from django.views.decorators.cache import never_cache

from .checks import readiness


@never_cache
def healthz(request):
    """The process is up (load balancers: liveness). Touches nothing else."""
    return JsonResponse({"status": "ok"})


@never_cache
def readyz(request):
    """Database, broker and storage reachable, providers configured (load balancers: readiness)."""
    results = readiness()
    ok = all(r["ok"] for r in results.values())
    return JsonResponse({"status": "ok" if ok else "unavailable", "checks": results}, status=200 if ok else 503)
