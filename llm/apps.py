from django.apps import AppConfig


class LlmConfig(AppConfig):
    name = "llm"
    verbose_name = "LLM service"

    def ready(self) -> None:
        from . import receivers  # noqa: F401  (connects signal receivers)
