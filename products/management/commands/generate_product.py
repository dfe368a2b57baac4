from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from products import bulk
from products.models import BulkGenerationItem


class Command(BaseCommand):
    help = (
        "Generate catalog products from raw product information with the LLM: identify the "
        "subcategory, map its attributes, write title/description/bullets/keywords, save. "
        "Items run as Celery jobs (see the progress page), or here with --now."
    )

    def add_arguments(self, parser):
        parser.add_argument("--text", action="append", default=[], help="raw product information (repeatable)")
        parser.add_argument("--csv", dest="csv_path", help="CSV with a `text` column, or `title` and `description`")
        parser.add_argument("--user", required=True, help="username that owns the generated sessions")
        parser.add_argument("--provider", default="", help="LLM provider name (default: the configured default)")
        parser.add_argument("--model", default="", help="model name (default: the provider's default)")
        parser.add_argument("--now", action="store_true", help="run the items in this process instead of Celery")
        parser.add_argument("--delivery", choices=["interactive", "batch"], default="interactive",
                            help="batch: every step of every item in provider batches at batch prices (polled by Celery beat)")

    def handle(self, *args, text, csv_path, user, provider, model, now, delivery="interactive", **options):
        if now and delivery == "batch":
            raise CommandError("--now runs the items here, one call at a time; --delivery batch is sent and polled "
                               "by the Celery workers and beat. Leave out one of them.")
        owner = get_user_model().objects.filter(username=user).first()
        if owner is None:
            raise CommandError(f"No user named {user!r}.")
        inputs = [t.strip() for t in text if t.strip()]
        if csv_path:
            try:
                with open(csv_path, newline="", encoding="utf-8-sig") as lines:
                    inputs += bulk.read_csv(lines)
            except OSError as exc:
                raise CommandError(f"Cannot read {csv_path}: {exc.strerror or exc}") from exc
            except UnicodeDecodeError as exc:
                raise CommandError(f"{csv_path} is not UTF-8 text: {exc.reason}") from exc
            except bulk.BadInput as exc:
                raise CommandError(f"{csv_path}: {exc}") from exc
        if not inputs:
            raise CommandError("Give --text \"...\" or --csv FILE.")
        job = bulk.create_job(owner=owner, inputs=inputs, provider_name=provider, model_name=model,
                              name=csv_path or "command line", enqueue=not now, delivery=delivery)
        self.stdout.write(f"Bulk job #{job.pk}: {len(inputs)} item(s). Progress: {job.get_absolute_url()}")
        if not now:
            self.stdout.write("Queued for the Celery worker.")
            return
        for item in job.items.order_by("position"):
            item = bulk.run_item(item.pk) or item
            line = f"{item.position}: {item.get_status_display()}"
            session = item.session
            if session is not None and session.product_id:
                line += f" → product #{session.product_id} “{session.product.title}”"
            if item.error:
                line += f" ({item.error})"
            self.stdout.write(line)
        job.refresh_from_db()
        self.stdout.write(f"{job.done} done, {job.failed} failed or need review, of {job.total}.")
        if job.done < job.total and not job.items.filter(status=BulkGenerationItem.Status.WAITING_MANUAL).exists():
            raise CommandError("Some items failed; see the lines above.")
