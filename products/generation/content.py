"""Step 4, generate the content: title, description, bullet points and keywords.

``build_prompt`` (the text and the valid attributes), ``read_answer`` (one answer, a parsed
``ProductContent`` or raw text validated against it here: no live call) and ``write_results``
(onto a wizard session); ``generate_product`` chains them (llm re-asks a schema violation).
"""

from __future__ import annotations

import json

from llm.calls.structured import parse

from .. import catalog, prompting
from ..models import Subcategory
from .calling import GENERATE_TEMPLATE, ask, clean_text
from .results import CallRecord, GeneratedContent, GenerationError, LLMOptions, ProductContent, UnknownSubcategory


def build_prompt(text: str, info: dict, subcategory_id: int, attributes: dict) -> list[dict]:
    lines = [
        f"- {d.name}: {d.display(attributes[d.name])}"
        for d in catalog.definitions(subcategory_id)
        if attributes.get(d.name) is not None
    ]
    prompt = prompting.render(GENERATE_TEMPLATE,
        category=info["category_name"], subcategory=info["name"], attributes="\n".join(lines) or "(none known)", text=text
    )
    return [{"role": "user", "content": prompt}]


def read_answer(answer) -> GeneratedContent:
    """The content of one answer: a live call's ``ProductContent``, or raw text validated against it
    (GenerationError saying what is wrong when it does not fit)."""
    if not isinstance(answer, ProductContent):
        parsed = parse(answer if isinstance(answer, str) else json.dumps(answer), ProductContent)
        if not parsed.ok:
            raise GenerationError(f"The model's answer does not fit the generate schema: {parsed.error}")
        answer = parsed.value
    return GeneratedContent(
        title=answer.title, description=answer.description, bullet_points=answer.bullet_points,
        search_keywords=answer.search_keywords,
    )


def write_results(session, content: GeneratedContent, *, force: bool = False) -> None:
    """The generated text onto a wizard session; ``force`` (the user asked for new text) drops their edits."""
    session.generated_content = content.as_dict()
    if force:
        session.content_edits = {}
    session.save()


def generate_product(text: str, subcategory_id: int, attributes: dict, options: LLMOptions) -> GeneratedContent:
    """Title, description, bullet points and keywords from the text and the (valid) attributes."""
    text = clean_text(text)
    info = catalog.subcategory_info(subcategory_id)
    if info is None or not Subcategory.objects.filter(pk=subcategory_id).exists():
        raise UnknownSubcategory(subcategory_id)
    calls: list[CallRecord] = []
    result = ask("generate", build_prompt(text, info, subcategory_id, attributes), ProductContent, options,
                 GENERATE_TEMPLATE, calls)
    content = read_answer(result.parsed)
    content.calls = calls
    return content
