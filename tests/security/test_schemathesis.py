"""Property-based API testing: Schemathesis generates requests from /api/openapi.json (WSGI, in process).

Checks: no 5xx and every response matches its documented schema. The number of cases run is
printed (``-s``) and kept in ``CASES_RUN`` for the report.
"""

import pytest
from django.db import transaction
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, Phase, given, settings as hypothesis_settings

pytestmark = pytest.mark.django_db

MAX_EXAMPLES = 12  # per operation: about 45 operations, under a minute in total
CASES_RUN = {"cases": 0, "operations": 0}


class _Undo(Exception):
    pass


@pytest.fixture
def wsgi_app():
    """The project's WSGI app, without closing the test's database connection after each request
    (what Django's own test client does too)."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield get_wsgi_application()
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def test_the_api_survives_generated_requests_and_matches_its_schema(owner, providers, fake, wsgi_app):
    import schemathesis
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import response_schema_conformance

    from accounts.models import ApiToken

    from .world import build_world

    build_world(owner, fake=fake)  # something to find behind the ids Schemathesis makes up
    _, raw = ApiToken.issue(owner, "schemathesis")
    headers = {"Authorization": f"Bearer {raw}"}
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", wsgi_app)
    failures = []
    for result in schema.get_all_operations():
        operation = result.ok()
        CASES_RUN["operations"] += 1
        documented = set(operation.definition.raw.get("responses", {}))

        @given(case=operation.as_strategy())
        @hypothesis_settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True,
                             phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        def run(case):
            CASES_RUN["cases"] += 1
            try:  # each case starts from the same data, and a database error stays inside it
                with transaction.atomic():
                    response = case.call(headers=headers)
                    raise _Undo
            except _Undo:
                pass
            checks = [not_a_server_error, response_schema_conformance]
            if response.status_code == 502 and "502" in documented:
                checks = [response_schema_conformance]  # a documented "the model's answer was unusable"
            case.validate_response(response, checks=checks)

        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collect every operation's failure, then report them all
            failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:1500]}")
    print(f"\nschemathesis: {CASES_RUN['cases']} cases over {CASES_RUN['operations']} operations")
    assert CASES_RUN["operations"] >= 40
    assert not failures, "\n\n".join(failures)


def test_a_nul_byte_in_a_parameter_is_a_400_not_a_server_error(client, owner):
    # Found by Schemathesis: PostgreSQL refuses NUL in text, which surfaced as a 500.
    from accounts.models import ApiToken

    _, raw = ApiToken.issue(owner, "nul")
    bearer = {"Authorization": f"Bearer {raw}"}
    for url in ("/api/llm/queries?purpose=a%00b", "/api/notes/?q=%00", "/api/segmentation/RUN%00x/status",
                "/api/codegen/run%00/status"):
        response = client.get(url, headers=bearer)
        assert response.status_code == 400, (url, response.status_code)
        assert "NUL" in response.json()["detail"]
