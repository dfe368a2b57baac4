"""Compress old interaction files now (what the periodic job does), or list what it would do."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ops import retention


class Command(BaseCommand):
    help = "Gzip interaction files older than LLM_LOG_RETENTION_DAYS in place (<name>.json.gz) and update their rows."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=None,
                            help=f"Age in days (default LLM_LOG_RETENTION_DAYS={settings.LLM_LOG_RETENTION_DAYS}).")
        parser.add_argument("--dry-run", action="store_true", help="List the files, change nothing.")
        parser.add_argument("--limit", type=int, default=None, help="At most this many files in this pass.")

    def handle(self, *args, days, dry_run, limit, **options):
        try:
            report = retention.apply(days=days, dry_run=dry_run, limit=limit)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        verb = "would compress" if dry_run else "compressed"
        for path in report.compressed if options["verbosity"] > 1 or dry_run else []:
            self.stdout.write(path)
        for line in report.skipped:
            self.stderr.write(f"skipped {line}")
        self.stdout.write(f"{verb} {len(report.compressed)} file(s) last used before {report.cutoff:%Y-%m-%d %H:%M} UTC; "
                          f"{len(report.skipped)} skipped.")
