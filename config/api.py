"""The JSON API: one NinjaAPI, each app contributes a router."""

from ninja import NinjaAPI
from ninja.security import django_auth

from accounts.api import router as accounts_router
from accounts.auth import ApiTokenAuth
from artifacts.api import router as artifacts_router
from codegen.api import router as codegen_router
from llm.api import router as llm_router
from notes.api import router as notes_router
from products.api import router as products_router
from segmentation.api import router as segmentation_router

api = NinjaAPI(
    title="LLM Platform API",
    version="1.0",
    description="Session auth for the browser; `Authorization: Bearer <token>` for scripts "
    "(create a token on your account page or with `manage.py create_api_token USER`).",
    auth=[ApiTokenAuth(), django_auth],
    urls_namespace="api",
)
api.add_router("/", accounts_router)
api.add_router("/llm/", llm_router)
api.add_router("/notes/", notes_router)
api.add_router("/artifacts/", artifacts_router)
api.add_router("/products/", products_router)
api.add_router("/segmentation/", segmentation_router)
api.add_router("/codegen/", codegen_router)
