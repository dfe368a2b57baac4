from django.apps import AppConfig


class LlmConfig(AppConfig):
    name = "llm"
    verbose_name = "LLM service"

    def ready(self) -> None:
        from . import checks, receivers  # noqa: F401  (registers the template check, connects receivers)
        from . import definitions, prompts  # definitions connects the signals that invalidate cached definitions
        # Templates read their admin overrides through the cached definitions (one version check, no query).
        prompts.use_override_source(definitions.prompt_override)
        from .records import write_prompt_archive

        prompts.use_archive_writer(write_prompt_archive)
        from django.db.models.signals import post_migrate

        from .bootstrap import defaults_after_migrate

        # The default providers and the bundled prices exist as soon as the tables do: setting
        # OPENAI_API_KEY is all a fresh install needs.
        post_migrate.connect(defaults_after_migrate, sender=self, dispatch_uid="llm.defaults_after_migrate")
