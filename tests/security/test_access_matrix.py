"""Who may open what: every URL pattern and every API operation has a row here, or the suite fails.

Pages: anonymous -> the login page; the owner -> the expected status; another user (a teammate
without rights, an outsider) -> 404 for the owner's objects; staff pages refuse everyone else.
API: anonymous -> 401; the owner -> the expected status; the others -> 404.
A new route without a row fails ``test_every_route_has_a_row`` (so no route escapes).
"""

from dataclasses import dataclass, field
from typing import Callable

import pytest
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from .world import World, build_world

pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class Rule:
    kind: str  # public | user | owned | shared | staff
    kwargs: Callable[[World], dict] = lambda w: {}
    status: int | tuple = 200  # what the owner (staff for staff pages, anyone for public) gets
    post: bool = False  # POST-only: others are checked with a POST (a GET would be a 405 before the lookup)
    body: Callable[[World], dict] | None = None  # API: JSON body
    others: int = 404


def public(status=200, **kw):
    return Rule("public", status=status, **kw)


def user(status=200, **kw):
    return Rule("user", status=status, **kw)


def owned(kwargs, status=200, **kw):
    return Rule("owned", kwargs=kwargs, status=status, **kw)


def shared(kwargs, status=200):
    return Rule("shared", kwargs=kwargs, status=status)


def staff(status=200, **kw):
    return Rule("staff", status=status, **kw)


note = lambda w: {"pk": w.note.pk}  # noqa: E731
artifact = lambda w: {"pk": w.artifact.pk}  # noqa: E731
seg = lambda w: {"run_id": w.seg_run.pk}  # noqa: E731
run = lambda w: {"run_id": w.codegen_run.run_id}  # noqa: E731

PAGES: dict[str, Rule] = {
    "home": user(),
    "healthz": public(),
    "readyz": public((200, 503)),
    "login": public(),
    "logout": user(405),  # POST-only (Django 5)
    "accounts:tokens": user(),
    "accounts:revoke-token": owned(lambda w: {"pk": w.token.pk}, 405, post=True),
    "llm:calls": user(),
    "llm:call": owned(lambda w: {"pk": w.query.pk}),
    "llm:call-file": owned(lambda w: {"pk": w.query.pk}),
    "llm:providers": user(),
    "llm:dashboard": user(),  # everyone sees their own numbers; the user filter is staff-only
    "llm:dashboard-csv": user(),
    "llm:health": staff(),
    "llm:prompt": user(),
    "llm:playground": user(),
    "llm:prompt-estimate": user(),
    "llm:job": owned(lambda w: {"pk": w.job.pk}),
    "llm:job-live": owned(lambda w: {"pk": w.job.pk}),  # server-sent events
    "llm:job-stop": owned(lambda w: {"pk": w.job.pk}, 405, post=True),
    "llm:manual-list": user(),
    "llm:manual-detail": owned(lambda w: {"pk": w.manual_query_id}),
    "llm:images": user(),
    "llm:image": owned(lambda w: {"pk": w.image.pk}),
    "llm:image-file": owned(lambda w: {"pk": w.image.pk}),
    "notes:list": user(),
    "notes:create": user(),
    "notes:capture-popup": public(),  # the capture window: opens before login (saving needs it), holds nothing of the user
    "notes:detail": owned(note),
    "notes:edit": owned(note),
    "notes:delete": owned(note),
    "artifacts:index": user(),
    "artifacts:preview": owned(lambda w: {"note_id": w.note.pk}, 405, post=True),
    "artifacts:generate": owned(lambda w: {"note_id": w.note.pk}, 405, post=True),
    "artifacts:detail": owned(artifact),
    "artifacts:status": owned(artifact),
    "artifacts:live": owned(artifact),  # server-sent events
    "artifacts:stop": owned(artifact, 405, post=True),
    "artifacts:paste": owned(artifact, 405, post=True),
    "artifacts:edit": owned(artifact),
    "artifacts:regenerate": owned(artifact, 405, post=True),
    "artifacts:promote": owned(artifact, 405, post=True),
    "artifacts:rate": owned(artifact, 405, post=True),
    "artifacts:analytics": user(),
    "artifacts:keys": user(),
    "artifacts:key-delete": owned(lambda w: {"pk": w.user_key.pk}, 405, post=True),
    "artifacts:webhooks": user(),
    "artifacts:webhook-delete": owned(lambda w: {"pk": w.webhook.pk}, 405, post=True),
    "artifacts:batch-create": user(405),
    "artifacts:batch": owned(lambda w: {"pk": w.batch.pk}),
    "artifacts:batch-progress": owned(lambda w: {"pk": w.batch.pk}),
    "artifacts:batch-cancel": owned(lambda w: {"pk": w.batch.pk}, 405, post=True),
    "products:list": user(),
    "products:detail": shared(lambda w: {"pk": w.product.pk}),  # the catalog is shared by design
    "products:wizard": user(),
    "products:wizard-session": owned(lambda w: {"pk": w.session.pk}, 302),  # redirects to its furthest step
    "products:wizard-step": owned(lambda w: {"pk": w.session.pk, "step": 1}),
    "products:wizard-promote": owned(lambda w: {"pk": w.session.pk}, 405, post=True),
    "products:wizard-content-live": owned(lambda w: {"pk": w.session.pk}),  # server-sent events
    "products:wizard-content-stop": owned(lambda w: {"pk": w.session.pk}, 405, post=True),
    "products:bulk": user(),
    "products:bulk-detail": owned(lambda w: {"pk": w.bulk.pk}),
    "products:bulk-cancel": owned(lambda w: {"pk": w.bulk.pk}, 405, post=True),
    "segmentation:index": user(),
    "segmentation:new": user(),
    "segmentation:run": owned(seg),
    "segmentation:progress": owned(seg),
    "segmentation:results": owned(seg),
    "segmentation:results-segments": owned(seg),
    "segmentation:results-segment": owned(lambda w: {"run_id": w.seg_run.pk, "taxonomy_id": w.seg_taxonomy.pk}),
    "segmentation:results-changes": owned(seg),
    "segmentation:results-calls": owned(seg),
    "segmentation:export": owned(seg),
    "segmentation:review": owned(seg),
    "segmentation:review-mark": owned(seg, 405, post=True),
    "segmentation:promote": owned(seg, 405, post=True),
    "evals:experiments": user(),
    "evals:experiment": owned(lambda w: {"pk": w.experiment.pk}),
    "evals:experiment-progress": owned(lambda w: {"pk": w.experiment.pk}),
    "evals:experiment-csv": owned(lambda w: {"pk": w.experiment.pk}),
    "evals:experiment-cancel-batch": owned(lambda w: {"pk": w.experiment.pk}, 405, post=True),
    "evals:suite": user(kwargs=lambda w: {"name": "products.identify_category"}),
    "evals:promote-query": owned(lambda w: {"pk": w.query.pk}, 405, post=True),
    "segmentation:cancel": owned(seg, 405, post=True),
    "segmentation:resume": owned(seg, 405, post=True),
    "codegen:index": user(),
    "codegen:run": owned(run),
    "codegen:file": owned(lambda w: {"run_id": w.codegen_run.run_id, "file_id": w.codegen_file.pk}),
    "codegen:download": owned(run),
    "codegen:rerun": owned(lambda w: {"run_id": w.codegen_run.run_id, "key": "1"}, 405, post=True),
}

# URL patterns of the API that are not operations: the schema and its docs page are public.
API_PAGES = {"api/openapi.json": 200, "api/docs": 200, "api/": 404}

qid = lambda w: {"query_id": w.query.pk}  # noqa: E731
aid = lambda w: {"artifact_id": w.artifact.pk}  # noqa: E731
sid = lambda w: {"run_id": w.seg_run.pk}  # noqa: E731
cid = lambda w: {"run_id": w.codegen_run.run_id}  # noqa: E731
PRODUCT_BODY = lambda w: {"title": "Rotary dimmer", "description": "A dimmer."}  # noqa: E731

API: dict[str, Rule] = {
    "GET /api/me": user(),
    "GET /api/llm/providers": user(),
    "GET /api/llm/models": user(),
    "GET /api/llm/queries": user(),
    "GET /api/llm/queries/{query_id}": owned(qid),
    "GET /api/llm/manual/pending": user(),
    "POST /api/llm/manual/{query_id}/answer": owned(lambda w: {"query_id": w.manual_query_id},
                                                    body=lambda w: {"answer": "42"}),
    "POST /api/llm/jobs": user(201, body=lambda w: {"prompt": "hi", "provider": "openai"}),
    "GET /api/llm/jobs/{job_id}": owned(lambda w: {"job_id": w.job.pk}),
    "GET /api/llm/usage": user(),
    "POST /api/notes/": user(201, body=lambda w: {"body": "a note"}),
    "GET /api/notes/": user(),
    "GET /api/notes/{note_id}": owned(lambda w: {"note_id": w.note.pk}),
    "POST /api/artifacts/preview/note/{note_id}": owned(lambda w: {"note_id": w.note.pk}, body=lambda w: {}),
    "POST /api/artifacts/generate/note/{note_id}": owned(lambda w: {"note_id": w.note.pk}, 202, body=lambda w: {}),
    # The artifact is completed, so the owner's paste is refused for that (400), not for access.
    "POST /api/artifacts/paste": owned(lambda w: {}, 400, body=lambda w: {"artifact_id": w.artifact.pk, "answer": "x"}),
    "GET /api/artifacts/keys": user(),
    "POST /api/artifacts/keys": user(201, body=lambda w: {"provider": "anthropic", "api_key": "sk-ant-new-key-1234"}),
    "DELETE /api/artifacts/keys/{key_id}": owned(lambda w: {"key_id": w.user_key.pk}, 204),
    "GET /api/artifacts/webhooks": user(),
    "POST /api/artifacts/webhooks": user((201, 400), body=lambda w: {"url": "https://hooks.example.com/new"}),
    "DELETE /api/artifacts/webhooks/{webhook_id}": owned(lambda w: {"webhook_id": w.webhook.pk}, 204),
    "GET /api/artifacts/webhooks/{webhook_id}/deliveries": owned(lambda w: {"webhook_id": w.webhook.pk}),
    "POST /api/artifacts/batch": owned(lambda w: {}, 202,
                                       body=lambda w: {"note_ids": [w.note.pk], "artifact_type": "summary"}),
    "GET /api/artifacts/batch/{batch_id}": owned(lambda w: {"batch_id": w.batch.pk}),
    "GET /api/artifacts/usage": user(),
    "GET /api/artifacts/analytics": user(),
    "GET /api/artifacts/": user(),
    "GET /api/artifacts/{artifact_id}": owned(aid),
    "GET /api/artifacts/{artifact_id}/versions": owned(aid),
    "POST /api/artifacts/{artifact_id}/regenerate": owned(aid, 202, body=lambda w: {}),
    "POST /api/artifacts/{artifact_id}/edit": owned(aid, 201, body=lambda w: {"content": "edited"}),
    "POST /api/products/identify-category": user((200, 400), body=PRODUCT_BODY),
    "POST /api/products/map-attributes": user((200, 400, 422), body=lambda w: {**PRODUCT_BODY(w), "subcategory_id": 0}),
    "POST /api/products/generate": user((200, 400, 422), body=PRODUCT_BODY),
    "POST /api/segmentation/start": user((200, 400), body=lambda w: {"product_ids": [w.product.pk], "category": "C",
                                                                      "provider": "openai", "model": "gpt-4o-mini"}),
    "GET /api/segmentation/{run_id}/status": owned(sid),
    "GET /api/segmentation/{run_id}/results": owned(sid),
    "POST /api/segmentation/{run_id}/cancel": owned(sid, 409),  # completed: nothing to cancel
    "POST /api/segmentation/{run_id}/resume": owned(sid, 409),  # completed: nothing to resume
    "POST /api/codegen/generate/chained": user(201, body=lambda w: {"name": "x", "description": "y",
                                                                    "provider": "openai", "model": "gpt-4o-mini"}),
    "GET /api/codegen/{run_id}/status": owned(cid),
    "GET /api/codegen/{run_id}/results": owned(cid),
    "GET /api/codegen/{run_id}/download": owned(cid),
    "POST /api/codegen/{run_id}/steps/{key}/rerun": owned(lambda w: {"run_id": w.codegen_run.run_id, "key": "1"},
                                                          (202, 409)),
}
# Operations left out of the schema on purpose: the bookmarklet's CORS preflight needs no auth.
API_HIDDEN = {"OPTIONS /api/notes/": 204}


def url_patterns(patterns=None, prefix="", namespace=""):
    """(route, name) of every URL pattern, included ones too; name is namespaced ("notes:detail")."""
    for p in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(p, URLResolver):
            ns = ":".join(x for x in (namespace, p.namespace) if x) if p.namespace else namespace
            yield from url_patterns(p.url_patterns, prefix + str(p.pattern), ns)
        else:
            name = f"{namespace}:{p.name}" if namespace and p.name else (p.name or "")
            yield prefix + str(p.pattern), name


def api_operations() -> dict[str, bool]:
    """"METHOD /api/path" of every operation the API serves -> whether the schema shows it."""
    from config.api import api

    ops = {}
    for prefix, router in api._routers:
        for path, view in router.path_operations.items():
            full = "/api/" + "/".join(x.strip("/") for x in (prefix, path) if x.strip("/"))
            if path.endswith("/") and not full.endswith("/"):
                full += "/"
            for op in view.operations:
                for method in op.methods:
                    ops[f"{method} {full}"] = op.include_in_schema
    return ops


def test_every_route_has_a_row(client):
    routes = list(url_patterns())
    pages = {name or route for route, name in routes if not route.startswith(("api/", "admin/"))}
    assert pages - set(PAGES) == set(), "pages without a row in the access matrix"
    assert set(PAGES) - pages == set(), "rows for pages that no longer exist"

    schema = client.get("/api/openapi.json").json()
    in_schema = {f"{m.upper()} {path}" for path, ops in schema["paths"].items() for m in ops}
    served = api_operations()
    assert {k for k, shown in served.items() if shown} == in_schema
    assert in_schema - set(API) == set(), "API operations without a row in the access matrix"
    assert set(API) - in_schema == set(), "rows for API operations that no longer exist"
    assert {k for k, shown in served.items() if not shown} == set(API_HIDDEN)
    api_paths = {p.replace("{", "<").replace("}", ">") for p in {k.split(" ", 1)[1][1:] for k in served}}
    for route, name in routes:
        if route.startswith("api/") and route not in API_PAGES:
            assert route in api_paths, f"{route} ({name}) is served under /api/ but is no API operation"
    admin = [r for r, _ in routes if r.startswith("admin/")]
    assert len(admin) > 20  # the admin site is covered as a whole by test_admin_is_staff_only


@pytest.fixture
def world(owner, providers, fake):
    return build_world(owner, fake=fake)


def _expect(response, status, what=""):
    allowed = status if isinstance(status, tuple) else (status,)
    assert response.status_code in allowed, (what, response.status_code, response.content[:300])


def _rolled_back(call):
    """Run ``call`` (a request that may delete or change the world) and undo what it wrote."""
    sid = transaction.savepoint()
    try:
        return call()
    finally:
        transaction.savepoint_rollback(sid)


def _check_page(name, client, world, teammate, outsider, staff):
    rule = PAGES[name]
    url = reverse(name, kwargs=rule.kwargs(world))
    client.logout()
    anonymous = client.get(url)
    if rule.kind == "public":
        _expect(anonymous, rule.status, url)
        return
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/?next="), (url, anonymous)
    if rule.kind == "owned":
        for other in (teammate, outsider):
            client.force_login(other)
            response = _rolled_back(lambda: client.post(url) if rule.post else client.get(url))
            assert response.status_code == 404, f"{other.username} reached {url}: {response.status_code}"
    if rule.kind == "shared":
        client.force_login(outsider)
        _expect(client.get(url), rule.status, url)
    if rule.kind == "staff":
        for other in (world.owner, outsider):
            client.force_login(other)
            refused = client.get(url)
            assert refused.status_code == 403 or (refused.status_code == 302 and "login" in refused["Location"]), url
        client.force_login(staff)
    else:
        client.force_login(world.owner)
    _expect(_rolled_back(lambda: client.get(url)), rule.status, url)


def test_page_access(client, world, teammate, outsider, staff):
    """One world, every page (a test per page would rebuild it 70 times); all failures are reported."""
    failures = []
    for name in sorted(PAGES):
        try:
            _check_page(name, client, world, teammate, outsider, staff)
        except AssertionError as exc:
            failures.append(f"{name}: {exc}")
    assert not failures, "\n".join(failures)


def test_admin_is_staff_only(client, owner, staff):
    """Every admin page (changelists, add forms, app indexes) refuses anonymous users and non-staff."""
    from django.contrib import admin

    urls = ["/admin/", "/admin/password_change/"]
    for model, model_admin in admin.site._registry.items():
        meta = model._meta
        urls += [f"/admin/{meta.app_label}/", reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"),
                 f"/admin/{meta.app_label}/{meta.model_name}/1/change/"]
    for who in (None, owner):
        if who:
            client.force_login(who)
        for url in urls:
            response = client.get(url)
            assert response.status_code == 302 and response["Location"].startswith(("/admin/login/", "/login/")), (
                url, who)
    client.force_login(staff)
    assert client.get("/admin/").status_code == 200


def _api_call(client, key, rule, world, headers=None):
    method, path = key.split(" ", 1)
    path = path.format(**rule.kwargs(world))
    body = rule.body(world) if rule.body else None
    kwargs = {"content_type": "application/json", "data": body} if body is not None else {}
    return getattr(client, method.lower())(path, headers=headers or {}, **kwargs)


def _check_api(key, client, world, others):
    rule = API[key]
    anonymous = _api_call(client, key, rule, world)
    assert anonymous.status_code == 401, ("anonymous", anonymous.status_code)
    if rule.kind == "owned":
        for other, raw in others:
            response = _rolled_back(lambda: _api_call(client, key, rule, world, {"Authorization": f"Bearer {raw}"}))
            assert response.status_code == 404, (other.username, response.status_code, response.content[:200])
    owner = _rolled_back(lambda: _api_call(client, key, rule, world, {"Authorization": f"Bearer {world.raw_token}"}))
    _expect(owner, rule.status, "owner")


def test_api_access(client, world, teammate, outsider):
    from accounts.models import ApiToken

    others = [(u, ApiToken.issue(u, "other")[1]) for u in (teammate, outsider)]
    failures = []
    for key in sorted(API):
        try:
            _check_api(key, client, world, others)
        except AssertionError as exc:
            failures.append(f"{key}: {exc}")
    assert not failures, "\n".join(failures)


def test_api_pages_and_hidden_operations(client):
    for route, status in API_PAGES.items():
        assert client.get("/" + route).status_code == status, route
    for key, status in API_HIDDEN.items():
        method, path = key.split(" ", 1)
        assert client.generic(method, path).status_code == status, key
