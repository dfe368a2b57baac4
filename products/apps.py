from django.apps import AppConfig


class ProductsConfig(AppConfig):
    name = "products"
    verbose_name = "Product catalog"

    def ready(self) -> None:
        from . import receivers  # noqa: F401  (connects the cache-clearing and resume receivers)
        from llm import batch as llm_batch

        from .bulk import BATCH_HANDLER, BatchHandler

        llm_batch.register_handler(BATCH_HANDLER, BatchHandler())
