"""What a suite's ``run`` gets: the variant's provider, model, parameters and template version,
and a ``complete`` that fills them in and records every call it makes for the case."""

from __future__ import annotations

from typing import Any

import llm
from llm.errors import LLMError


class Context:
    def __init__(self, *, variant, result_id: int | None = None, run_id: str = "", user=None, use_cache: bool = True):
        self.variant = variant
        self.result_id = result_id
        self.run_id = run_id
        self.user = user
        self.use_cache = use_cache
        self.query_ids: list[int] = []
        self.judge_query_ids: list[int] = []

    # The variant, as the suites read it.
    @property
    def provider(self) -> str:
        return self.variant.provider

    @property
    def model(self) -> str:
        return self.variant.model

    @property
    def params(self) -> dict:
        return dict(self.variant.params or {})

    @property
    def template_version(self) -> int | None:
        return self.variant.template_version

    @property
    def template_key(self) -> str:
        """What goes into llm's cache key and logs, e.g. identify_category_v3."""
        t = self.variant.template
        return f"{t}_v{self.variant.template_version}" if t and self.variant.template_version is not None else t

    def record(self, *query_ids: int | None, judge: bool = False) -> None:
        target = self.judge_query_ids if judge else self.query_ids
        for qid in query_ids:
            if qid and qid not in target:
                target.append(qid)

    def call_kwargs(self) -> dict:
        """Keyword arguments for ``llm.complete`` that put a call under this variant and case."""
        params = self.params
        kwargs: dict[str, Any] = {
            "provider": self.provider or None, "model": self.model or None, "run": self.run_id or None,
            "batch": self.result_id, "cache": self.use_cache, "user": self.user,
        }
        for key in ("temperature", "max_tokens"):
            if key in params:
                kwargs[key] = params[key]
        return kwargs

    def complete(self, *, purpose: str, **kwargs) -> llm.calls.service.Completion:  # type: ignore[name-defined]
        """``llm.complete`` for this variant: its provider, model, parameters; the calls recorded."""
        merged = {**self.call_kwargs(), "template_version": self.template_key, **kwargs}
        try:
            result = llm.complete(purpose=purpose, **merged)
        except LLMError as exc:
            self.record(exc.query_id)
            raise
        self.record(*(result.query_ids or [result.query_id]))
        return result

    def render(self, variables: dict, *, name: str = "", version: int | None = None):
        """The variant's version of a prompt template (llm's YAML templates)."""
        from llm import prompts

        template = prompts.get(name or self.variant.template,
                               version if version is not None else self.variant.template_version)
        return prompts.render(template, variables)


def acting_user(ctx) -> Any:
    """Whom a suite's work belongs to when the pipeline needs an owner: the experiment's owner,
    else a service account "evals" (a command-line run has no user), which cannot log in."""
    if getattr(ctx, "user", None) is not None and getattr(ctx.user, "pk", None):
        return ctx.user
    from django.contrib.auth import get_user_model

    user, created = get_user_model().objects.get_or_create(username="evals", defaults={"is_active": False})
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user
