"""``manage.py eval list|import|run|show|export|resume`` — the command-line face of evals."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from evals import export, importing, registry, runner, summary
from evals.models import Dataset, Experiment


def _fmt(value, pattern="{:.3f}") -> str:
    return "-" if value is None else pattern.format(value)


class Command(BaseCommand):
    help = "Evaluation suites: list them, import cases, run experiments, show and export results."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("list", help="The registered suites and their datasets.")

        imp = sub.add_parser("import", help="Import cases from a .csv or .jsonl file.")
        imp.add_argument("path")
        imp.add_argument("--dataset", required=True, help="The dataset's name (usually the suite's).")
        imp.add_argument("--suite", default="")
        imp.add_argument("--format", choices=["csv", "jsonl"])
        imp.add_argument("--new-version", action="store_true", help="Start a new version of the dataset.")

        run = sub.add_parser("run", help="Run a suite (inline, in this process) and print a table per variant.")
        run.add_argument("suite")
        run.add_argument("--dataset", help="Dataset name (latest version) or NAME@VERSION; default: the suite's.")
        run.add_argument("--variant", action="append", default=[], metavar="TEMPLATE_VERSION:PROVIDER:MODEL")
        run.add_argument("--fail-below", type=float, help="Exit 1 when a variant's score is below this (0..1).")
        run.add_argument("--json", action="store_true", help="One JSON object per variant, one a line.")
        run.add_argument("--no-cache", action="store_true", help="Do not use cached answers.")
        run.add_argument("--concurrency", type=int)
        run.add_argument("--queue", action="store_true", help="Enqueue on the bulk queue instead of running here.")
        run.add_argument("--delivery", choices=["interactive", "batch"], default="interactive",
                         help="batch: each variant's cases in provider batches at half price; the beat poll moves the "
                              "experiment on, so it goes to Celery (as with --queue).")

        show = sub.add_parser("show", help="The per-variant table of an experiment.")
        show.add_argument("experiment", type=int)
        show.add_argument("--json", action="store_true")

        exp = sub.add_parser("export", help="An experiment's results as CSV (to stdout or --output).")
        exp.add_argument("experiment", type=int)
        exp.add_argument("--output")

        sub.add_parser("resume", help="Re-run experiments whose worker died.")

    def handle(self, *args, **options):
        return getattr(self, f"do_{options['action']}")(options)

    def do_list(self, options):
        for suite in registry.all_suites():
            ds = runner.latest_dataset(suite.name)
            cases = ds.cases.count() if ds else 0
            self.stdout.write(f"{suite.name}\t{ds or 'no dataset'}\t{cases} cases\t{suite.description}")

    def do_import(self, options):
        path = Path(options["path"])
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"Cannot read {path}: {exc}") from None
        try:
            fmt = options["format"] or importing.format_of(path.name)
            report = importing.import_cases(text, fmt, name=options["dataset"], suite=options["suite"],
                                            new_version=options["new_version"])
        except importing.ImportFailed as exc:
            for error in exc.errors:
                self.stderr.write(f"{path}: {error}")
            raise CommandError(f"Nothing imported: {len(exc.errors)} problem(s) in {path}.") from None
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Imported {report.created} cases into {report.dataset}.")

    def _dataset(self, name: str | None) -> Dataset | None:
        if not name:
            return None
        base, _, version = name.partition("@")
        qs = Dataset.objects.filter(name=base)
        ds = qs.filter(version=int(version)).first() if version.isdigit() else qs.order_by("-version").first()
        if ds is None:
            raise CommandError(f"No dataset {name}. Known: {', '.join(map(str, Dataset.objects.all()[:20])) or 'none'}.")
        return ds

    def do_run(self, options):
        try:
            suite = registry.get(options["suite"])
            variants = [runner.parse_variant(v, suite) for v in options["variant"]] or None
            experiment = runner.create_experiment(suite=suite.name, dataset=self._dataset(options["dataset"]),
                                                  variants=variants, use_cache=not options["no_cache"],
                                                  trigger="command", delivery=options["delivery"])
        except (registry.UnknownSuite, ValueError) as exc:
            raise CommandError(str(exc)) from None
        if experiment.delivery == "batch":
            from evals import batch_delivery

            with transaction.atomic():
                batch_delivery.send_pass(experiment.pk)
            self.stdout.write(f"Experiment {experiment.pk} queued in provider batches (delivery=batch); "
                              f"follow it with `manage.py eval show {experiment.pk}`.")
            return
        if options["queue"]:
            from evals import tasks

            tasks.run_experiment.delay(experiment.pk)
            self.stdout.write(f"Experiment {experiment.pk} queued.")
            return
        experiment = runner.work(experiment.pk, concurrency=options["concurrency"])
        rows = summary.summarize(experiment)
        self._print(experiment, rows, options["json"])
        threshold = options["fail_below"]
        if threshold is not None:
            below = [s for s in rows if s.score is None or s.score < threshold]
            if below:
                self.stderr.write(f"Below {threshold}: " + ", ".join(f"{s.label} ({_fmt(s.score)})" for s in below))
                sys.exit(1)

    def _print(self, experiment, rows, as_json: bool):
        if as_json:
            for s in rows:
                self.stdout.write(json.dumps({"experiment": experiment.pk, **s.as_json()}))
            return
        self.stdout.write(f"Experiment {experiment.pk} ({experiment.suite} on {experiment.dataset}): {experiment.status}")
        self.stdout.write(f"{'variant':40} {'score':>6} {'95% CI':>13} {'cases':>5} {'failed':>6} {'cost $':>10} "
                          f"{'p50 ms':>7} {'p95 ms':>7} {'cached':>6}")
        for s in rows:
            ci = f"{_fmt(s.ci_low, '{:.2f}')}–{_fmt(s.ci_high, '{:.2f}')}"
            cost = "unknown" if s.cost_usd is None else f"{s.cost_usd:.6f}"
            self.stdout.write(f"{s.label[:40]:40} {_fmt(s.score):>6} {ci:>13} {s.cases:>5} {s.failed:>6} {cost:>10} "
                              f"{_fmt(s.latency_p50_ms, '{:.0f}'):>7} {_fmt(s.latency_p95_ms, '{:.0f}'):>7} "
                              f"{s.cache_hits:>6}" + ("  *best trade-off*" if s.pareto else ""))
            if s.failures:
                self.stdout.write("    failures: " + ", ".join(f"{k} {v}" for k, v in s.failures.items()))
        if experiment.status == Experiment.Status.WAITING:
            self.stdout.write("Some cases wait for pasted answers (the copy/paste provider); they run again once pasted.")

    def do_show(self, options):
        experiment = Experiment.objects.filter(pk=options["experiment"]).first()
        if experiment is None:
            raise CommandError(f"No experiment {options['experiment']}.")
        self._print(experiment, summary.summarize(experiment), options["json"])

    def do_export(self, options):
        experiment = Experiment.objects.filter(pk=options["experiment"]).first()
        if experiment is None:
            raise CommandError(f"No experiment {options['experiment']}.")
        if options["output"]:
            with open(options["output"], "w", newline="", encoding="utf-8") as fh:
                export.write_csv(experiment, fh)
            self.stdout.write(f"Wrote {options['output']}.")
        else:
            export.write_csv(experiment, self.stdout)

    def do_resume(self, options):
        for pk in runner.stale_experiments() + list(
            Experiment.objects.filter(status__in=["queued", "running"]).values_list("pk", flat=True)
        ):
            if runner.has_claimable(pk):
                if Experiment.objects.filter(pk=pk, delivery="batch").exists():
                    from evals import batch_delivery

                    batch_delivery.batch_pass(pk)  # does nothing while its provider batch is out
                else:
                    runner.work(pk)
                self.stdout.write(f"Experiment {pk} resumed.")
