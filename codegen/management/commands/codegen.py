"""python manage.py codegen --name NAME --description TEXT [--mockup FILE] [--provider P] [--model M] --out DIR"""

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from llm.errors import LLMConfigurationError

from codegen import pipeline
from codegen.mockups import MockupError, validate_mockup
from codegen.models import CodegenRun
from codegen.paths import UnsafePath, write_under


class Command(BaseCommand):
    help = "Run the chained code generation synchronously and write the checked files under --out DIR."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--description", required=True)
        parser.add_argument("--mockup", type=Path, help="PNG, JPEG or WebP UI mockup")
        parser.add_argument("--stack", default="")
        parser.add_argument("--provider", default="")
        parser.add_argument("--model", default="")
        parser.add_argument("--user", default="", help="Owner of the run (to see it on the pages); default: none")
        parser.add_argument("--out", required=True, type=Path, help="Folder to write the project into")

    def handle(self, *args, **opts):
        out: Path = opts["out"]
        if out.exists() and not out.is_dir():
            raise CommandError(f"--out {out} exists and is not a folder.")
        owner = None
        if opts["user"]:
            owner = get_user_model().objects.filter(username=opts["user"]).first()
            if owner is None:
                raise CommandError(f"No user {opts['user']!r}.")
        mockup, media_type = None, ""
        if opts["mockup"]:
            try:
                mockup = opts["mockup"].read_bytes()
                media_type = validate_mockup(mockup)
            except OSError as exc:
                raise CommandError(f"Cannot read the mockup: {exc}") from None
            except MockupError as exc:
                raise CommandError(str(exc)) from None
        try:
            run = pipeline.create_run(
                owner=owner, name=opts["name"], description=opts["description"], stack=opts["stack"],
                provider=opts["provider"], model=opts["model"], mockup=mockup, mockup_media_type=media_type,
            )
        except LLMConfigurationError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Run {run.run_id} with {run.provider_name}/{run.model_name}")
        run = pipeline.execute_run(run.pk, on_log=lambda line: self.stdout.write(line))

        if run.status == CodegenRun.Status.WAITING_MANUAL:
            self.stdout.write(self.style.WARNING(
                "Waiting for a pasted answer: paste it on the copy/paste page (or `manage.py llm` / the API), "
                "then run this command again with the same arguments; answered steps are not asked again."
            ))
            raise CommandError(f"Run {run.run_id} is waiting for a pasted answer.")

        out.mkdir(parents=True, exist_ok=True)
        written = refused = 0
        for f in run.files.order_by("path"):
            try:
                write_under(out, f.path, f.content)
                written += 1
            except (UnsafePath, OSError) as exc:
                refused += 1
                self.stderr.write(f"Refused {f.path!r}: {exc}")
        counts = {s: run.files.filter(check_status=s).count() for s in ("ok", "failed", "skipped")}
        summary = (f"{written} files written under {out.resolve()} ({refused} refused); checks: {counts['ok']} passed, "
                   f"{counts['failed']} failed, {counts['skipped']} not checked; {run.total_tokens} tokens, "
                   f"cost {'$' + format(run.total_cost_usd, '.6f') if run.total_cost_usd is not None else 'unknown'}")
        if run.status == CodegenRun.Status.COMPLETED:
            self.stdout.write(self.style.SUCCESS(f"Run {run.run_id} completed: {summary}"))
        else:
            self.stdout.write(self.style.WARNING(
                f"Run {run.run_id} ended {run.status} (failing step(s): {run.failing_step or '-'}): {summary}"))
            if run.status == CodegenRun.Status.FAILED:
                raise CommandError(run.error or "The run failed.")
