from django.apps import AppConfig


class ArtifactsConfig(AppConfig):
    name = "artifacts"
    verbose_name = "Artifacts"

    def ready(self) -> None:
        from . import receivers  # noqa: F401  (resumes artifacts after a pasted answer)
        from llm import batch as llm_batch

        from .batch_delivery import HANDLER, Handler

        llm_batch.register_handler(HANDLER, Handler())
