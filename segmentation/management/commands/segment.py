import csv
import json

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from products.models import Product
from segmentation import conf, pipeline

BAR_WIDTH = 30


class Command(BaseCommand):
    help = "Segment products into a taxonomy: extract per batch, consolidate, refine. Prints the run id and summary."

    def add_arguments(self, parser):
        parser.add_argument("--category", required=True, help="The product category being segmented, e.g. 'Dimmer Switches'.")
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--product-ids", help="Comma-separated product ids, e.g. 1,2,3.")
        source.add_argument("--all", action="store_true", help="Every product in the catalog.")
        source.add_argument("--csv", help="A CSV file with a product_id (or id) column, or ids in the first column.")
        parser.add_argument("--provider")
        parser.add_argument("--model")
        parser.add_argument("--temperature", type=float)
        parser.add_argument("--user", help="Owner of the run (default: the first superuser).")
        parser.add_argument("--delivery", choices=["interactive", "batch"], default="interactive",
                            help="batch: each stage's calls in provider batches at half price; the beat poll moves the run "
                                 "on, so the run goes to Celery (as with --async).")
        parser.add_argument("--async", dest="run_async", action="store_true", help="Enqueue on Celery and return at once.")
        parser.add_argument("--workers", type=int, help=f"Batches at a time when running here (default SEGMENTATION_CONCURRENCY={conf.concurrency()}).")

    def handle(self, *args, **options):
        owner = self._owner(options["user"])
        ids = self._ids(options)
        try:
            with transaction.atomic():
                run = pipeline.start_run(owner=owner, product_ids=ids, category=options["category"],
                                         provider=options["provider"], model=options["model"],
                                         temperature=options["temperature"], delivery=options["delivery"])
                if run.delivery == "batch":
                    options["run_async"] = True
                if options["run_async"]:
                    from segmentation.tasks import start

                    start(run.pk, pipeline.pending_batches(run.pk))
        except pipeline.StartError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Run {run.pk}: {run.total_products} products, provider {run.model_config['provider']}, "
                          f"model {run.model_config['model']}, delivery {run.delivery}")
        if options["run_async"]:
            self.stdout.write(f"Enqueued. Follow it at /segmentation/runs/{run.pk}/ or GET /api/segmentation/{run.pk}/status")
            return
        run = pipeline.run_inline(run.pk, workers=options["workers"], on_progress=self._bar)
        self.stdout.write("")
        self.stdout.write(f"Run {run.pk} {run.status}")
        if run.error:
            self.stdout.write(f"Error: {run.error}")
        if run.result_summary:
            self.stdout.write(json.dumps(run.result_summary, indent=2))
        for taxon in run.taxonomies.order_by("position"):
            self.stdout.write(f"  {taxon.product_count:6d}  {taxon.category_name}")
        if run.status != run.Status.COMPLETED:
            raise CommandError(f"Run {run.pk} ended {run.status}; `resume` it from its page or the API.")

    def _bar(self, run):
        progress = pipeline.progress(run)
        percent = progress["progress_percent"]
        filled = int(BAR_WIDTH * percent / 100)
        stage = next((s for s in progress["stages"] if s["current"]), progress["stages"][-1])
        line = f"\r[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {percent:5.1f}%  {stage['label']} {stage['done']}/{stage['total']}"
        self.stdout.write(line, ending="")
        self.stdout.flush()

    def _owner(self, username):
        User = get_user_model()
        if username:
            user = User.objects.filter(username=username).first()
            if user is None:
                raise CommandError(f"No user named {username!r}.")
            return user
        user = User.objects.filter(is_superuser=True).order_by("pk").first()
        if user is None:
            raise CommandError("No superuser to own the run: pass --user USERNAME.")
        return user

    def _ids(self, options) -> list[int]:
        if options["all"]:
            return list(Product.objects.order_by("pk").values_list("pk", flat=True)[: conf.max_products() + 1])
        if options["product_ids"]:
            raw = [part.strip() for part in options["product_ids"].split(",") if part.strip()]
        else:
            raw = self._csv_ids(options["csv"])
        try:
            return [int(x) for x in raw]
        except ValueError:
            bad = next(x for x in raw if not x.lstrip("-").isdigit())
            raise CommandError(f"Product ids must be integers; got {bad!r}.") from None

    def _csv_ids(self, path) -> list[str]:
        try:
            with open(path, newline="", encoding="utf-8-sig") as fh:
                rows = list(csv.reader(fh))
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc}") from None
        if not rows:
            return []
        header = [h.strip().lower() for h in rows[0]]
        column = next((header.index(name) for name in ("product_id", "id") if name in header), None)
        body = rows[1:] if column is not None or not (rows[0] and rows[0][0].strip().isdigit()) else rows
        column = column or 0
        return [row[column].strip() for row in body if len(row) > column and row[column].strip()]
