from django.apps import AppConfig


class EvalsConfig(AppConfig):
    name = "evals"
    verbose_name = "Evaluations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.utils.module_loading import autodiscover_modules

        from . import receivers  # noqa: F401  (resumes cases waiting for a pasted answer)

        # Each domain app's evals.py registers its suites (the way admin.py registers models).
        autodiscover_modules("evals")
