from django.core.management.base import BaseCommand, CommandError

from segmentation import s3
from segmentation.models import SegmentationRun


class Command(BaseCommand):
    help = "Point a run's interaction index back at local files (downloading any that were deleted locally)."

    def add_arguments(self, parser):
        parser.add_argument("--run-id", required=True)

    def handle(self, *args, **options):
        run = SegmentationRun.objects.filter(pk=options["run_id"]).first()
        if run is None:
            raise CommandError(f"No run {options['run_id']!r}.")
        try:
            report = s3.rollback_run(run)
        except s3.S3NotConfigured as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Run {run.pk}: index back on local storage; {len(report.restored)} file(s) downloaded from S3, "
                          f"{report.queries_updated} llm call row(s) pointed back at local files")
        for path, reason in report.problems:
            self.stderr.write(f"PROBLEM {path}: {reason}")
        if not report.ok:
            raise CommandError(f"{len(report.problems)} file(s) could not be rolled back.")
