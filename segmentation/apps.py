from django.apps import AppConfig


class SegmentationConfig(AppConfig):
    name = "segmentation"
    verbose_name = "Segmentation"

    def ready(self) -> None:
        from llm import batch as llm_batch

        from . import receivers  # noqa: F401  (connects signal receivers)
        from .pipeline.batched import HANDLER, BatchHandler

        llm_batch.register_handler(HANDLER, BatchHandler())
