from django.apps import AppConfig


class EvalsConfig(AppConfig):
    name = "evals"
    verbose_name = "Evaluations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.utils.module_loading import autodiscover_modules

        from . import receivers  # noqa: F401  (resumes cases waiting for a pasted answer)

        from llm import hooks

        from llm import batch as llm_batch

        from . import quality
        from .batch_delivery import HANDLER, BatchHandler

        llm_batch.register_handler(HANDLER, BatchHandler())

        # llm's pages show evals' figures and forms through llm.hooks (llm never imports evals).
        hooks.register_quality(quality.by_purpose_model)
        hooks.register_panel("dashboard", "evals/hooks/dashboard_suites.html", quality.dashboard_panel)
        hooks.register_panel("call_detail", "evals/hooks/promote_call.html", quality.call_panel)

        # Each domain app's evals.py registers its suites (the way admin.py registers models).
        autodiscover_modules("evals")
