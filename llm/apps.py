from django.apps import AppConfig


class LlmConfig(AppConfig):
    name = "llm"
    verbose_name = "LLM service"

    def ready(self) -> None:
        from . import checks, receivers  # noqa: F401  (registers the template check, connects receivers)
        from . import definitions  # noqa: F401  (connects the signals that invalidate cached definitions)
