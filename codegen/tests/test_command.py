"""manage.py codegen: runs the chain synchronously and writes only safe paths under --out."""

import pytest
from django.core.management import CommandError, call_command

from codegen.models import CodegenRun
from codegen.tests.demo import DemoModel, total_demo_files
from codegen.tests.test_pipeline import tiny_png

pytestmark = pytest.mark.django_db


def test_the_command_writes_the_project_under_out(providers, fake, tmp_path, capsys):
    fake.set_default(DemoModel())
    mockup = tmp_path / "mockup.png"
    mockup.write_bytes(tiny_png())
    out = tmp_path / "out"
    call_command("codegen", "--name", "cars", "--description", "Manage cars.", "--mockup", str(mockup),
                 "--provider", "openai", "--model", "gpt-4o-mini", "--out", str(out))
    printed = capsys.readouterr().out
    assert "STEP 4: FRONTEND COMPONENTS (Multi-phase)" in printed and "✓ Generated: backend/main.py" in printed
    assert f"{total_demo_files()} files written" in printed and "0 failed" in printed
    assert (out / "backend/main.py").read_text().startswith("from fastapi import FastAPI")
    assert (out / ".env.example").exists()
    written = [p for p in out.rglob("*") if p.is_file()]
    assert len(written) == total_demo_files()
    assert CodegenRun.objects.get().owner is None


def test_the_command_refuses_a_bad_mockup(providers, tmp_path):
    bad = tmp_path / "mockup.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(CommandError, match="not a readable"):
        call_command("codegen", "--name", "x", "--description", "y", "--mockup", str(bad), "--out", str(tmp_path / "o"))


def test_the_command_stops_and_says_so_when_a_paste_is_needed(providers, fake, tmp_path):
    with pytest.raises(CommandError, match="waiting for a pasted answer"):
        call_command("codegen", "--name", "x", "--description", "y", "--provider", "manual",
                     "--out", str(tmp_path / "o"))
    assert not (tmp_path / "o").exists()
