import pytest
from django.core.management import CommandError, call_command

from segmentation.models import RefinedProductSegment, SegmentationRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_user(django_user_model):
    return django_user_model.objects.create_superuser("root", password="root-pass-123")


def test_segment_runs_with_a_progress_bar_and_prints_the_summary(admin_user, catalog, smart_fake, capsys, settings):
    settings.SEGMENTATION_CONCURRENCY = 1
    call_command("segment", "--category", "Dimmer Switches", "--product-ids", ",".join(map(str, catalog[:45])),
                 "--provider", "openai", "--model", "gpt-4o-mini")
    out = capsys.readouterr().out
    run = SegmentationRun.objects.get()
    assert run.status == "completed" and run.owner == admin_user
    assert f"Run {run.pk} completed" in out and "[####" in out and "100.0%" in out
    assert '"unassigned": 0' in out and "Rotary dimmer switches" in out


def test_segment_reads_ids_from_a_csv(admin_user, catalog, smart_fake, tmp_path, settings):
    settings.SEGMENTATION_CONCURRENCY = 1
    path = tmp_path / "ids.csv"
    path.write_text("product_id,title\n" + "\n".join(f"{pk},x" for pk in catalog[:7]))
    call_command("segment", "--category", "D", "--csv", str(path), "--provider", "openai", "--model", "gpt-4o-mini")
    assert RefinedProductSegment.objects.count() == 7


def test_segment_async_only_enqueues(admin_user, catalog, providers, capsys, celery_eager, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        call_command("segment", "--category", "D", "--all", "--async", "--provider", "openai", "--model", "gpt-4o-mini")
    run = SegmentationRun.objects.get()
    assert run.total_products == 100 and run.status == "running" and len(callbacks) == 1
    assert "Enqueued" in capsys.readouterr().out


def test_segment_names_unknown_ids(admin_user, catalog, providers):
    with pytest.raises(CommandError, match="Unknown product ids: 987654321"):
        call_command("segment", "--category", "D", "--product-ids", f"{catalog[0]},987654321", "--provider", "openai")
