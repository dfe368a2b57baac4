"""Fake-provider answerers for the evals tests and the bench: a model that classifies the demo
catalog correctly, and a careless one. They read the request the way a model would (the
catalog and the product text in the prompt) and answer in the schema it asks for; the shapes
are the fake's own (llm/testing/fake_provider.py), nothing here invents a provider format."""

from __future__ import annotations

import json
import re

from llm.testing.fake_provider import RecordedRequest, Reply, _request_texts

CATEGORY = re.compile(r"^- category (\d+): (.+?)(?: — .*)?$", re.M)
SUBCATEGORY = re.compile(r"^  - subcategory (\d+): (.+?)(?: — .*)?$", re.M)
PRODUCT = re.compile(r'"""\n(.*?)\n"""', re.S)


def schema_name(request: RecordedRequest) -> str:
    body = request.body or {}
    fmt = (body.get("response_format") or {}).get("json_schema") or {}
    return fmt.get("name", "")


def _catalog(prompt: str) -> list[tuple[int, int, str]]:
    """(category id, subcategory id, subcategory name) in prompt order."""
    out, current = [], None
    for line in prompt.splitlines():
        if m := CATEGORY.match(line):
            current = int(m[1])
        elif (m := SUBCATEGORY.match(line)) and current is not None:
            out.append((current, int(m[1]), m[2].strip()))
    return out


class CatalogModel:
    """``mode="correct"`` picks the subcategory the product text names; ``"careless"`` always the
    first one listed. ``delay`` (s) is the latency of every answer. Judge requests get grade 5
    when the graded answer equals the reference, else 1 (``judge_mode="inverted"`` flips that)."""

    def __init__(self, mode: str = "correct", *, delay: float = 0.0, judge_mode: str = "fair"):
        self.mode = mode
        self.delay = delay
        self.judge_mode = judge_mode

    def __call__(self, request: RecordedRequest) -> Reply:
        _, prompt = _request_texts(request.route, request.body)
        name = schema_name(request)
        if name == "JudgeVerdict":
            return Reply(json=self._judge(prompt), delay=self.delay)
        catalog = _catalog(prompt)
        if catalog:
            product = (PRODUCT.search(prompt) or [None, ""])[1].lower()
            chosen = catalog[0]
            if self.mode == "correct":
                # The longest name found wins ("LED Bulbs" over "Bulbs").
                named = sorted((c for c in catalog if c[2].lower() in product), key=lambda c: -len(c[2]))
                chosen = named[0] if named else chosen
            return Reply(json={"category_id": chosen[0], "subcategory_id": chosen[1], "confidence": 0.9,
                               "reason": "Named in the product text."}, delay=self.delay)
        return Reply(text="I cannot tell.", delay=self.delay)

    def _judge(self, prompt: str) -> dict:
        answer = re.search(r"<answer>\n(.*?)\n</answer>", prompt, re.S)
        reference = re.search(r"<reference>\n(.*?)\n</reference>", prompt, re.S)
        same = bool(answer and reference) and _loads(answer[1]) == _loads(reference[1])
        if self.judge_mode == "inverted":
            same = not same
        return {"score": 5 if same else 1, "reason": "Matches the reference." if same else "Differs from the reference."}


def _loads(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text.strip()
