"""Pages: the form, the run page and its live partial, the file browser, the zip, re-run, ownership."""

import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from codegen import pipeline
from codegen.models import CodegenRun, GeneratedFile
from codegen.paths import path_key
from codegen.tests.demo import DemoModel
from codegen.tests.test_pipeline import new_run, tiny_png

pytestmark = pytest.mark.django_db


def test_the_form_starts_a_run_with_an_uploaded_mockup(owner_client, providers, fake, celery_eager,
                                                       django_capture_on_commit_callbacks):
    fake.set_default(DemoModel())
    page = owner_client.get(reverse("codegen:index"))
    assert b'enctype="multipart/form-data"' in page.content and b"Target stack" in page.content
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(reverse("codegen:index"), {
            "name": "shop", "description": "A shop.", "stack": "", "provider": "openai", "model": "gpt-4o-mini",
            "mockup": SimpleUploadedFile("m.png", tiny_png(), content_type="image/png"),
        })
    run = CodegenRun.objects.get()
    assert response.status_code == 302 and response["Location"] == run.get_absolute_url()
    assert run.status == "completed" and run.mockup_media_type == "image/png"
    assert "FastAPI" in run.stack  # the default stack
    page = owner_client.get(run.get_absolute_url())
    assert b"Completed" in page.content and b"backend/main.py" in page.content and b"Download zip" in page.content
    assert page.content.count(b"Re-run</button>") == 11


def test_the_form_refuses_what_is_not_an_image(owner_client, providers, settings):
    response = owner_client.post(reverse("codegen:index"), {
        "name": "shop", "description": "A shop.", "provider": "openai",
        "mockup": SimpleUploadedFile("m.png", b"%PDF-1.4 not an image", content_type="image/png"),
    })
    assert response.status_code == 200 and b"not a readable PNG, JPEG or WebP" in response.content
    settings.CODEGEN = {"MAX_MOCKUP_BYTES": 10}
    response = owner_client.post(reverse("codegen:index"), {
        "name": "shop", "description": "A shop.", "provider": "openai",
        "mockup": SimpleUploadedFile("m.png", tiny_png(), content_type="image/png"),
    })
    assert b"the limit is 0 KB" in response.content
    assert not CodegenRun.objects.exists()


def test_the_live_partial_polls_until_the_run_is_finished(owner_client, providers, owner):
    run = new_run(owner)
    partial = owner_client.get(run.get_absolute_url(), HTTP_HX_REQUEST="true")
    assert b'hx-trigger="every 1s"' in partial.content and b"<html" not in partial.content
    CodegenRun.objects.filter(pk=run.pk).update(status="completed")
    partial = owner_client.get(run.get_absolute_url(), HTTP_HX_REQUEST="true")
    assert b"hx-trigger" not in partial.content


def _add_file(run, path, content):
    step = run.steps.get(key="3.1")
    return GeneratedFile.objects.create(run=run, step=step, path=path, path_key=path_key(path), content=content,
                                        check_status="ok")


def test_file_content_is_shown_escaped_and_highlighted(owner_client, providers, owner):
    run = new_run(owner)
    f = _add_file(run, "frontend/src/x.tsx", 'const a = "</code></pre><script>alert(1)</script>";\n')
    page = owner_client.get(reverse("codegen:file", args=[run.run_id, f.pk]))
    assert page.status_code == 200
    assert b"<script>alert(1)</script>" not in page.content
    assert b"&lt;script&gt;" in page.content
    assert b'<span class="' in page.content  # Pygments spans


def test_the_zip_holds_only_safe_names(owner_client, providers, owner):
    run = new_run(owner)
    _add_file(run, "backend/main.py", "print(1)\n")
    # A row that slipped past (e.g. written by hand): the zip checks every name again.
    _add_file(run, "../../evil.py", "x")
    _add_file(run, "/abs.py", "x")
    response = owner_client.get(reverse("codegen:download", args=[run.run_id]))
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.namelist() == ["car-management-app/backend/main.py"]
    info = archive.getinfo("car-management-app/backend/main.py")
    assert (info.external_attr >> 16) == 0o100644  # a regular file, never a symlink
    assert archive.read(info) == b"print(1)\n"


def test_outsiders_get_404_on_every_page(client, outsider, providers, owner):
    run = new_run(owner)
    f = _add_file(run, "backend/main.py", "print(1)\n")
    client.force_login(outsider)
    for url in (reverse("codegen:run", args=[run.run_id]), reverse("codegen:file", args=[run.run_id, f.pk]),
                reverse("codegen:download", args=[run.run_id])):
        assert client.get(url).status_code == 404, url
    assert client.post(reverse("codegen:rerun", args=[run.run_id, "2"])).status_code == 404
    assert run.name.encode() not in client.get(reverse("codegen:index")).content


def test_the_rerun_button_runs_one_step_again(owner_client, providers, fake, celery_eager, owner, settings,
                                              django_capture_on_commit_callbacks):
    settings.LLM_VALIDATION_RETRIES = 0
    fake.set_default(DemoModel(fail={"4.4"}))
    run = pipeline.execute_run(new_run(owner).pk)
    page = owner_client.get(run.get_absolute_url())
    assert b"Failing step: 4.4" in page.content
    fake.set_default(DemoModel())
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(reverse("codegen:rerun", args=[run.run_id, "4.4"]))
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.status == "completed"
