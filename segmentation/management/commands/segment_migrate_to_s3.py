from django.core.management.base import BaseCommand, CommandError

from segmentation import s3
from segmentation.models import SegmentationRun


class Command(BaseCommand):
    help = "Upload a run's interaction files to S3 keeping the layout, verify checksums, point the index at S3."

    def add_arguments(self, parser):
        parser.add_argument("--run-id", required=True)
        parser.add_argument("--verify-integrity", action="store_true", help="Read every file back from S3 and compare sha256.")
        parser.add_argument("--delete-local", action="store_true",
                            help="Delete the local copies once every file was verified (implies --verify-integrity).")

    def handle(self, *args, **options):
        run = SegmentationRun.objects.filter(pk=options["run_id"]).first()
        if run is None:
            raise CommandError(f"No run {options['run_id']!r}.")
        try:
            report = s3.migrate_run(run, verify=options["verify_integrity"], delete_local=options["delete_local"])
        except s3.S3NotConfigured as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Run {run.pk} -> s3://{report.bucket}/: {len(report.uploaded)} uploaded, "
                          f"{len(report.verified)} verified, {len(report.already)} already in S3, {len(report.deleted)} local deleted, "
                          f"{report.queries_updated} llm call row(s) pointed at S3")
        for path, reason in report.problems:
            self.stderr.write(f"PROBLEM {path}: {reason}")
        if not report.ok:
            raise CommandError(f"{len(report.problems)} file(s) failed the integrity check; their index rows still "
                               "point at the local files and no local file was deleted.")
