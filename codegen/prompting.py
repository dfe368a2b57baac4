"""The codegen steps' prompts: llm templates ``codegen.<name>`` (codegen/prompts/<name>_v<N>.yaml).

The pipeline names a prompt with its version (``step_3_1_backend_core_v0``), the name that goes
into each call's cache key and the run's prompt archive.
"""

from llm import prompts


def _split(key: str) -> tuple[str, int]:
    step, sep, version = key.rpartition("_v")
    if not sep or not version.isdigit():
        raise prompts.TemplateError(f"{key!r}: name a codegen prompt as <name>_v<version>, e.g. repair_v0.")
    return f"codegen.{step}", int(version)


def template(key: str) -> str:
    """The template as written (placeholders and the stable-prefix marker included): for the archive."""
    return prompts.get(*_split(key)).user


def render(key: str, /, **values) -> str:
    name, version = _split(key)
    return prompts.render(name, values, version=version).user
