from django.apps import AppConfig


class SegmentationConfig(AppConfig):
    name = "segmentation"
    verbose_name = "Segmentation"

    def ready(self) -> None:
        from . import receivers  # noqa: F401  (connects signal receivers)
