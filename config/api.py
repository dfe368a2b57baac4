"""The JSON API: one NinjaAPI, each app contributes a router."""

from django.db import DataError
from ninja import NinjaAPI
from ninja.security import django_auth

from accounts.api import router as accounts_router
from accounts.auth import ApiTokenAuth
from accounts.throttling import ApiAnonThrottle, ApiUserThrottle, TooManyTokenFailures
from artifacts.api import router as artifacts_router
from codegen.api import router as codegen_router
from llm.web import router as llm_router
from notes.api import router as notes_router
from products.api import router as products_router
from segmentation.api import router as segmentation_router

api = NinjaAPI(
    title="LLM Platform API",
    version="1.0",
    description="Session auth for the browser; `Authorization: Bearer <token>` for scripts "
    "(create a token on your account page or with `manage.py create_api_token USER`).",
    auth=[ApiTokenAuth(), django_auth],
    throttle=[ApiAnonThrottle(), ApiUserThrottle()],  # rates: settings API_THROTTLE_ANON / _USER
    urls_namespace="api",
)
api.add_router("/", accounts_router)
api.add_router("/llm/", llm_router)
api.add_router("/notes/", notes_router)
api.add_router("/artifacts/", artifacts_router)
api.add_router("/products/", products_router)
api.add_router("/segmentation/", segmentation_router)
api.add_router("/codegen/", codegen_router)


@api.exception_handler(DataError)
def refuse_unstorable_input(request, exc):
    # A NUL byte or an out-of-range number in a parameter reaches PostgreSQL as a DataError:
    # the client's mistake (400), not a server error.
    return api.create_response(
        request, {"detail": "A parameter holds a value the database cannot take (a NUL character or a number "
                            "out of range)."}, status=400)


@api.exception_handler(TooManyTokenFailures)
def refuse_token_guessing(request, exc):
    response = api.create_response(request, {"detail": f"{exc} Try again in {exc.retry_after} s."}, status=429)
    response["Retry-After"] = str(exc.retry_after)
    return response
