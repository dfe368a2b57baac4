"""The generation steps' prompts: llm templates ``products.<step>`` (products/prompts/<step>_v<N>.yaml).

Steps name a template with its version, ``identify_category_v3``: evaluation variants compare
versions side by side, so the version travels with the name.
"""

from llm import prompts


def split_key(key: str) -> tuple[str, int]:
    """``identify_category_v3`` -> (``products.identify_category``, 3)."""
    step, sep, version = key.rpartition("_v")
    if not sep or not version.isdigit():
        raise prompts.TemplateError(f"{key!r}: name a products prompt as <step>_v<version>, e.g. identify_category_v3.")
    return f"products.{step}", int(version)


def render(key: str, **values) -> str:
    name, version = split_key(key)
    return prompts.render(name, values, version=version).user


def versions(step: str) -> list[int]:
    return prompts.versions(f"products.{step}")
