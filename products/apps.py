from django.apps import AppConfig


class ProductsConfig(AppConfig):
    name = "products"
    verbose_name = "Product catalog"

    def ready(self) -> None:
        from . import receivers  # noqa: F401  (connects the cache-clearing and resume receivers)
