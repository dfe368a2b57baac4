"""The JSON API: start a run (with a base64 mockup), follow it, fetch results and the zip, re-run a step."""

import base64
import io
import zipfile

import pytest

from accounts.models import ApiToken
from codegen.models import CodegenRun
from codegen.tests.demo import DemoModel, total_demo_files
from codegen.tests.test_pipeline import tiny_png

pytestmark = pytest.mark.django_db


def start(client, django_capture_on_commit_callbacks, **extra):
    body = {"name": "car-management-app", "description": "Manage cars.", "provider": "openai", "model": "gpt-4o-mini",
            **extra}
    with django_capture_on_commit_callbacks(execute=True):
        return client.post("/api/codegen/generate/chained", body, content_type="application/json")


def test_generate_chained_runs_the_whole_chain(owner_client, providers, fake, celery_eager,
                                               django_capture_on_commit_callbacks):
    fake.set_default(DemoModel())
    response = start(owner_client, django_capture_on_commit_callbacks,
                     mockup_base64=base64.b64encode(tiny_png()).decode(), mockup_media_type="image/png")
    assert response.status_code == 201, response.content
    data = response.json()
    run = CodegenRun.objects.get(run_id=data["run_id"])
    assert run.mockup_media_type == "image/png" and run.mockup.name.endswith(".png")

    status = owner_client.get(data["status_url"]).json()
    assert status["status"] == "completed" and status["files"] == total_demo_files()
    assert [s["key"] for s in status["steps"]] == ["1", "2", "3.1", "3.2", "3.3", "3.4", "4.1", "4.2", "4.3", "4.4", "5"]
    assert all(s["status"] == "completed" and s["input_tokens"] > 0 for s in status["steps"])
    assert any("STEP 1: ARCHITECTURE ANALYSIS" in line for line in status["log"])

    results = owner_client.get(data["results_url"]).json()
    assert results["checks"]["failed"] == 0 and results["checks"]["ok"] >= 20
    by_path = {f["path"]: f for f in results["files"]}
    assert by_path["backend/main.py"]["check_status"] == "ok" and by_path["backend/main.py"]["step"] == "3.1"

    zipped = owner_client.get(data["download_url"])
    assert zipped["Content-Type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(zipped.content)).namelist()
    assert len(names) == total_demo_files()
    assert all(n.startswith("car-management-app/") and ".." not in n.split("/") for n in names)


def test_a_script_uses_a_bearer_token(client, owner, providers, django_capture_on_commit_callbacks):
    _, token = ApiToken.issue(owner, "script")
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = client.post("/api/codegen/generate/chained", {"name": "x", "description": "y", "provider": "openai"},
                               content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 201
    assert CodegenRun.objects.get().owner == owner
    assert len(queued) == 1  # the Celery task, sent once the run is committed


@pytest.mark.parametrize("mockup, media_type, message", [
    (base64.b64encode(b"GIF89a not really").decode(), "image/gif", "not a readable"),
    ("!!!not base64!!!", "image/png", "not valid base64"),
    (base64.b64encode(b"<svg></svg>").decode(), "image/svg+xml", "not a readable"),
])
def test_bad_mockups_are_refused(owner_client, providers, mockup, media_type, message,
                                 django_capture_on_commit_callbacks):
    response = start(owner_client, django_capture_on_commit_callbacks, mockup_base64=mockup,
                     mockup_media_type=media_type)
    assert response.status_code == 400 and message in response.json()["detail"]
    assert not CodegenRun.objects.exists()


def test_a_mislabelled_or_oversized_mockup_is_refused(owner_client, providers, settings,
                                                      django_capture_on_commit_callbacks):
    png = base64.b64encode(tiny_png()).decode()
    response = start(owner_client, django_capture_on_commit_callbacks, mockup_base64=png, mockup_media_type="image/jpeg")
    assert response.status_code == 400 and "content is image/png" in response.json()["detail"]
    settings.CODEGEN = {"MAX_MOCKUP_BYTES": 20}
    response = start(owner_client, django_capture_on_commit_callbacks, mockup_base64=png, mockup_media_type="image/png")
    assert response.status_code == 413


def test_outsiders_get_404_everywhere(client, owner_client, outsider, providers, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        run_id = owner_client.post("/api/codegen/generate/chained", {"name": "x", "description": "y"},
                                   content_type="application/json").json()["run_id"]
    CodegenRun.objects.filter(run_id=run_id).update(status="completed")
    assert owner_client.get(f"/api/codegen/{run_id}/status").status_code == 200
    client.force_login(outsider)
    for url in (f"/api/codegen/{run_id}/status", f"/api/codegen/{run_id}/results", f"/api/codegen/{run_id}/download"):
        assert client.get(url).status_code == 404, url
    assert client.post(f"/api/codegen/{run_id}/steps/2/rerun").status_code == 404
    client.logout()
    assert client.get(f"/api/codegen/{run_id}/status").status_code == 401


def test_rerun_one_step_through_the_api(owner_client, providers, fake, celery_eager, settings,
                                        django_capture_on_commit_callbacks):
    settings.LLM_VALIDATION_RETRIES = 0
    fake.set_default(DemoModel(fail={"5"}))
    run_id = start(owner_client, django_capture_on_commit_callbacks).json()["run_id"]
    assert owner_client.get(f"/api/codegen/{run_id}/status").json()["failing_step"] == "5"

    fake.set_default(DemoModel())
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(f"/api/codegen/{run_id}/steps/5/rerun")
    assert response.status_code == 202
    status = owner_client.get(f"/api/codegen/{run_id}/status").json()
    assert status["status"] == "completed" and status["failing_step"] == ""
    assert owner_client.post(f"/api/codegen/{run_id}/steps/7/rerun").status_code == 409
