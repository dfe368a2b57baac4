from django.apps import AppConfig


class CodegenConfig(AppConfig):
    name = "codegen"
    verbose_name = "Code generation"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import receivers  # noqa: F401  (resumes runs when a pasted answer arrives)
