import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from notes.demo import seed_notes
from products.demo import seed_catalog

DEMO_USERNAME = "demo"
LOGIN_URL = "http://127.0.0.1:8000/"


def password_file() -> Path:
    return Path(settings.VAR_DIR) / "demo_password.txt"


class Command(BaseCommand):
    help = (
        "Create the demo user (password kept in VAR_DIR/demo_password.txt), sample notes, a sample "
        "catalog and the default LLM providers. Safe to run every time: it only adds what is missing."
    )

    def handle(self, *args, **options):
        with transaction.atomic():
            password, user_status = self._demo_user()
            user = get_user_model().objects.get(username=DEMO_USERNAME)
            notes_created = seed_notes(user)
        catalog = seed_catalog()
        llm_status = self._llm_defaults()
        from evals.promotion import seed_datasets

        datasets = seed_datasets()  # after the catalog: the product suites' labels are its products

        self.stdout.write(f"Demo user: {user_status}.")
        self.stdout.write(f"Notes: {notes_created} sample notes created.")
        self.stdout.write(
            f"Catalog: {catalog.categories} categories, {catalog.subcategories} subcategories, "
            f"{catalog.attribute_definitions} attribute definitions and {catalog.products} products created."
        )
        self.stdout.write(f"LLM providers: {llm_status}.")
        self.stdout.write(f"Evaluation datasets: {', '.join(datasets.values()) or 'none'}.")
        self.stdout.write(self.style.SUCCESS(f"Demo login: {DEMO_USERNAME} / {password}  at {LOGIN_URL}"))

    def _demo_user(self) -> tuple[str, str]:
        """Make sure the demo superuser exists and that the saved password opens it."""
        User = get_user_model()
        path = password_file()
        saved = path.read_text().strip() if path.exists() else ""
        user = User.objects.filter(username=DEMO_USERNAME).first()
        if user is None:
            # A saved password outlives a reset database: keep using it.
            password = saved or _new_password()
            User.objects.create_superuser(DEMO_USERNAME, email="", password=password)
            status = "created"
        elif saved and user.check_password(saved):
            password, status = saved, "already there"
        else:
            # No file, or the password was changed elsewhere: the printed login must work.
            password = _new_password()
            user.set_password(password)
            user.save(update_fields=["password"])
            status = "password reset"
        if user is not None and not (user.is_staff and user.is_superuser and user.is_active):
            user.is_staff = user.is_superuser = user.is_active = True
            user.save(update_fields=["is_staff", "is_superuser", "is_active"])
        if password != saved:
            _save_password(path, password)
        return password, status

    def _llm_defaults(self) -> str:
        try:
            from llm.bootstrap import ensure_defaults
        except ImportError:
            self.stderr.write(self.style.WARNING("llm.bootstrap is not importable yet: default providers skipped."))
            return "skipped"
        outcome = ensure_defaults()
        created = outcome.get("providers_created", []) if isinstance(outcome, dict) else []
        return f"defaults ensured, {len(created)} created"


def _new_password() -> str:
    return secrets.token_urlsafe(12)


def _save_password(path: Path, password: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.write_text(password + "\n")
