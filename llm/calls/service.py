"""``complete()``: the one call every app makes to reach a model.

For each call: pick provider and model, log a row before each attempt and update it after,
retry transient failures with backoff (honouring Retry-After), write the interaction file
before the row is finalised, price the usage, and for structured output parse, repair,
validate and re-ask with the shared retry prompt until the answer fits or attempts run out.
"""

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from . import content as content_parts
from . import budgets, concurrency, outcomes, ratelimit, structured
from .. import definitions, prompts
from ..records import interactions, rollups
from . import cache as answer_cache
from ..errors import (
    LLMError,
    LLMInvalidOutputError,
    ManualAnswerPending,
    ProviderCallError,
)
from ..models import LLMModel, LLMProvider, LLMQuery, ManualInteraction
from .retry import ms_since, run_id_of, with_retries
from ..records import charge_for, cost_for
from ..records.pricing import prompt_cache_saving
from ..records import dblog, interaction_writer
from .tokens import count_input_tokens
from ..providers import ProviderRequest, ProviderResponse, Usage, client_for, resolve_model, resolve_target
from ..providers.base import on_before_send, redact_keys

logger = logging.getLogger(__name__)



def _settle_before_send() -> None:
    """The SDK clients' send hook: the call's overlapped row insert (attempt_once) is settled right
    before the request's first byte leaves; when the answer-cache lookup that travelled with it found
    the answer, the request is dropped (the call is answered from the cache, see ``_CacheHit``)."""
    if dblog.settle_pending():
        raise dblog.SendStopped("answered from the cache; the request was not sent")


on_before_send(_settle_before_send)


class _CacheHit(Exception):
    """The overlapped cache lookup found the answer (raised by ``_Call._settle_row``, caught by complete())."""

    def __init__(self, entry, parsed, row):
        super().__init__("answered from the cache")
        self.entry, self.parsed, self.row = entry, parsed, row

RETRY_TEMPLATE = "shared_retry"  # llm/prompts/shared_retry_v0.yaml: the re-ask when an answer does not fit the schema


def retry_prompt(error: str) -> str:
    return prompts.render(RETRY_TEMPLATE, {"error": error}).user


@dataclass
class Completion:
    text: str
    parsed: Any
    usage: Usage
    cost_usd: Decimal | None
    query_id: int
    provider: str
    model: str
    latency_ms: int
    file_path: str
    attempts: int
    status: str = LLMQuery.Status.OK
    query_ids: list[int] = field(default_factory=list)


@dataclass
class Delivered:
    """An answer a provider batch already produced (llm/batch/): ``complete()`` logs it as the
    call's first attempt (delivery="batch", at batch prices) instead of sending the request, then
    goes on exactly as for an interactive answer (validation, retry prompt, files, cache)."""

    response: ProviderResponse
    provider_batch_id: str
    custom_id: str
    latency_ms: int = 0
    # The request's budget reservation, made when the batch was submitted (llm/batch/service.py):
    # the delivered row books its real cost against it, in the row's own transaction.
    reservation: "budgets.Reservation | None" = None


def normalize_messages(messages=None, prompt: str | None = None, system: str | None = None) -> list[dict]:
    out: list[dict] = []
    if system:
        out.append({"role": "system", "content": system})
    for m in messages or []:
        role, content = m.get("role"), m.get("content")
        if role not in ("system", "user", "assistant"):
            raise ValueError(f"Message role must be system, user or assistant, not {role!r}.")
        if role == "system" and not isinstance(content, str):
            raise ValueError("A system message must be text.")
        out.append({"role": role, "content": content_parts.validate(content)})
    if prompt:
        out.append({"role": "user", "content": prompt})
    if not any(m["role"] == "user" for m in out):
        raise ValueError("A call needs at least one user message (pass prompt=… or messages=[…]).")
    return out


def cache_key_for(provider: LLMProvider, model: LLMModel, messages: list[dict], params: dict, json_schema: dict | None,
                  version: str = "", scope: str = "") -> str:
    normalized = {
        "provider": provider.name,
        "model": model.name,
        "messages": content_parts.redacted(messages),
        "params": params,
        "schema": json_schema,
        "template_version": version,
    }
    if scope:  # answer_cache.scope_for: per user unless LLM_CACHE_SCOPE = "shared"
        normalized["scope"] = scope
    return hashlib.sha256(json.dumps(normalized, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def render_prompt(messages: list[dict], json_schema: dict | None = None) -> str:
    """One block of text a person can paste into any chat LLM (the copy/paste tier)."""
    chat = [m for m in messages if m["role"] != "system"]
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    parts = []
    if system:
        parts.append(f"Instructions:\n{system}")
    if len(chat) == 1:
        parts.append(content_parts.text_of(chat[0]["content"]))
    else:
        for m in chat:
            parts.append(f"[{m['role'].capitalize()}]\n{content_parts.text_of(m['content'])}")
    if json_schema is not None:
        parts.append(
            "Reply with only a JSON value (no prose, no code fences) that matches this JSON schema:\n"
            + json.dumps(json_schema, indent=2)
        )
    return "\n\n".join(parts)




class _Call:
    """The state of one ``complete()`` call across its attempts."""

    def __init__(self, *, purpose, provider, model, messages, json_schema, schema_name, max_tokens, temperature, user,
                 run_id, interaction_type, batch, context, api_key, cache_key, prompt_cache=True, delivered=None):
        self.purpose = purpose
        self.provider = provider
        self.model = model
        self.messages = messages
        self.json_schema = json_schema
        self.schema_name = schema_name
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.user = user
        self.run_id = run_id
        self.interaction_type = interaction_type
        self.batch = batch
        self.context = context or {}
        self.api_key = api_key
        self.cache_key = cache_key
        # Provider prompt caching: True = the templates' lifetimes, "5m"/"1h" = that lifetime, False = off.
        self.prompt_cache = prompt_cache
        self.prompt_template = prompts.templates_of(messages)[:200]
        self.attempt = 0
        self.query_ids: list[int] = []
        self.first_row: LLMQuery | None = None  # written with the cache lookup, used by the first attempt
        self.schema = None  # complete()'s schema argument (the cached answer is parsed with it)
        self.hit = None  # (entry, parsed): the overlapped lookup found a usable answer
        self.lookup_started = 0.0
        self.reservation: budgets.Reservation | None = None
        # Whose key pays: the user's own (passed in), nobody (copy/paste), or the app's.
        self.key_source = "manual" if provider.kind == LLMProvider.Kind.MANUAL else ("user" if api_key else "app")
        self.slot: ratelimit.Slot | None = None
        self.lease: concurrency.Lease | None = None
        self.delivered: Delivered | None = delivered
        self.next_delivery = "interactive"
        # complete() sets it: the final row update may go to the background writer's journal
        # (llm/records/interaction_writer.py); a stream finalises its row inline.
        self.defer_row = False

    @property
    def params(self) -> dict:
        params = {"max_tokens": self.max_tokens}
        if self.temperature is not None:
            params["temperature"] = self.temperature
        if self.json_schema is not None:
            params["schema_name"] = self.schema_name
        return params

    def new_row(self, status: str, *, nowait: bool = False) -> LLMQuery:
        """The attempt's log row, committed before the call. ``nowait``: its INSERT is only sent
        (dblog.insert_nowait); ``_settle_row`` (at the latest right before the request leaves, or
        before anything else reads ``row.pk``) waits for it."""
        if self.first_row is not None:
            row, self.first_row = self.first_row, None  # already written, as STARTED, with the lookup
            row.status = status
            return row
        return self._write_row(status, nowait=nowait)[0]

    def _settle_row(self, row: LLMQuery) -> None:
        """The row's overlapped INSERT has its answer (a no-op when it was not overlapped); a refused
        one raises its database error here, and nothing more is done for this attempt."""
        if row.pk is None:
            try:
                dblog.settle_pending()
            except BaseException:
                dblog.discard_pending()
                raise
        if row.pk is not None and (not self.query_ids or self.query_ids[-1] != row.pk):
            self.query_ids.append(row.pk)  # (the send hook may have settled it: listed here either way)
        if self.hit is not None:  # the lookup that travelled with the row found the answer: nothing is sent
            (entry, parsed), self.hit = self.hit, None
            raise _CacheHit(entry, parsed, row)

    def first_row_overlapped(self, cache_lookup: tuple[str, list]) -> bool:
        """Send the first attempt's row (STARTED) with the cache lookup, without waiting (True; the
        next ``new_row`` hands it out, and settling it tells hit or miss), or nothing (False)."""
        if not dblog.can_overlap():
            return False
        self.first_row = self._row(LLMQuery.Status.STARTED)
        return dblog.insert_nowait(self.first_row, before=cache_lookup, on_settled=self._on_lookup)

    def _on_lookup(self, found) -> bool:
        """The overlapped lookup's row: a live entry whose answer fits the schema is a hit (True)."""
        entry = answer_cache.entry_from_row(found)
        if entry is None:
            return False
        parsed = None
        if self.json_schema is not None:
            result = structured.parse(entry.response_text, self.schema)
            if not result.ok:
                return False
            parsed = result.value
        self.hit = (entry, parsed)
        return True

    def first_row_with_lookup(self, cache_lookup: tuple[str, list]):
        """Write the first attempt's row (STARTED) in the same message as the cache lookup (one round
        trip for both); the next ``new_row`` hands it out. Returns the lookup's result row or None."""
        self.first_row, found = self._write_row(LLMQuery.Status.STARTED, before=cache_lookup)
        return found

    def _write_row(self, status: str, before: tuple[str, list] | None = None,
                   nowait: bool = False) -> tuple[LLMQuery, Any]:
        row = self._row(status)
        if nowait and before is None and dblog.insert_nowait(row):
            return row, None  # query_ids gets it in _settle_row
        found = dblog.insert(row, before=before)  # committed before the call: a crash during it still leaves this row
        self.query_ids.append(row.pk)
        return row, found

    def _row(self, status: str) -> LLMQuery:
        self.attempt += 1
        return LLMQuery(
            user=self.user if getattr(self.user, "pk", None) else None,
            purpose=self.purpose,
            run_id=self.run_id,
            interaction_type=self.interaction_type,
            batch=self.batch,
            provider=self.provider,
            model=self.model,
            provider_name=self.provider.name,
            model_name=self.model.name,
            params=self.params,
            status=status,
            attempt=self.attempt,
            key_source=self.key_source,
            cache_key=self.cache_key,
            prompt_template=self.prompt_template,
            delivery=self.next_delivery,
            provider_batch_id=self.delivered.provider_batch_id if self.delivered else "",
            batch_custom_id=self.delivered.custom_id if self.delivered else "",
        )

    def document(self, row: LLMQuery, *, messages: list[dict], response: ProviderResponse | None, error: str = "",
                 duration_ms: int | None = None, response_text: str | None = None) -> dict:
        return {
            "metadata": interactions.metadata(row, provider_kind=self.provider.kind, temperature=self.temperature,
                                              max_tokens=self.max_tokens, duration_ms=duration_ms),
            "context": self.context,
            "prompt": render_prompt(messages),
            "messages": content_parts.redacted(messages),
            "params": self.params,
            "schema": self.json_schema,
            "response": response.text if response is not None else response_text,
            "raw_response": response.raw if response is not None else None,
            "finish_reason": response.finish_reason if response is not None else None,
            "usage": vars(response.usage) if response is not None else None,
            "cost_usd": row.cost_usd,
            "error": error or None,
        }

    def finish_row(self, row: LLMQuery, *, messages: list[dict], response: ProviderResponse | None, status: str,
                   error: str = "", latency_ms: int, http_status: int | None = None, cache_ttl: int | None = None,
                   cache_answer: bool = False) -> None:
        """Write the interaction file first, then the row: a DB failure never loses the answer.

        The row's update, its rollup, the budget settlement and (``cache_answer``) the answer's
        cache entry are one transaction and one round trip to the database (see llm/records/dblog.py).
        In background mode, a call with no budget reservation journals the file and the row's update
        with one ``write()`` instead, and the background writer applies them
        (llm/records/interaction_writer.py says what is promised and why budgeted calls stay inline).
        """
        self._settle_row(row)
        error = redact_keys(error, self.api_key)  # never a key, even one a provider echoed back
        row.status = status
        row.error = error[:5000]
        row.latency_ms = latency_ms
        row.http_status = http_status
        row.finished_at = timezone.now()
        if response is not None:
            row.stop_reason = (response.finish_reason or "")[:50]
            u = response.usage
            row.input_tokens = u.input_tokens
            row.cached_input_tokens = u.cached_input_tokens
            row.cache_write_input_tokens = u.cache_write_input_tokens
            row.cache_write_1h_input_tokens = u.cache_write_1h_input_tokens
            row.output_tokens = u.output_tokens
            row.reasoning_tokens = u.reasoning_tokens
            charged = charge_for(self.model, u, batch=row.delivery == "batch")
            row.cost_usd, row.price_tier = charged.cost, charged.tier
            row.prompt_cache_saved_usd = prompt_cache_saving(self.model, u, charged.cost, batch=row.delivery == "batch")
        reservation, self.reservation = self.reservation, None
        self._settle_slot(response)
        path = interactions.file_name(
            run_id=self.run_id, interaction_type=self.interaction_type, batch=self.batch, attempt=row.attempt,
            when=row.created_at, unique=f"{self.cache_key}:{row.pk}",
        )
        deferred = self.defer_row and reservation is None and interaction_writer.can_defer()
        file = None
        try:
            document = self.document(row, messages=messages, response=response, error=error, duration_ms=latency_ms)
            if deferred:  # journaled below with the row's update, in one write()
                data = interactions.encode(document)
                file = (path, data)
                row.file_path, row.file_sha256 = path, hashlib.sha256(data).hexdigest()
            else:  # journaled now (background mode) or stored now (inline)
                row.file_path, row.file_sha256 = interaction_writer.write(path, document)
        except Exception:  # storage down: keep the row (with its tokens and cost) and say so
            logger.exception("Could not write the interaction file for query %s", row.pk)
            row.error = (row.error + "\n" if row.error else "") + "Interaction file could not be written."
        also = [rollups.statement(row)]
        # Book the real cost against the budgets (nothing when the provider never answered).
        spent = row.cost_usd if response is not None else Decimal("0")
        if reservation is not None:
            also.append(reservation.settle_statement(spent))
        if cache_answer and response is not None:
            # Stored under the key of the original request, even when a retry prompt got the answer.
            also.append(
                answer_cache.store_statement(self.cache_key, row, response.text, vars(response.usage), cache_ttl)
            )
        if deferred:
            try:
                interaction_writer.finish(row, also, file=file,
                                          cache_key=self.cache_key if cache_answer and response is not None else "")
                return
            except Exception:  # the journal could not be written (disk full): both inline, as before
                logger.exception("Could not journal the final update of query %s; writing it now", row.pk)
                if file is not None:
                    try:
                        interactions.store(*file)
                    except Exception:
                        logger.exception("Could not write the interaction file for query %s", row.pk)
                        row.error = (row.error + "\n" if row.error else "") + "Interaction file could not be written."
                        row.file_path = row.file_sha256 = ""
        try:
            dblog.update(row, [a for a in also if a is not None])
        except Exception:
            if reservation is not None and reservation.usage_ids:
                try:  # never leave the budget reserved because the log row could not be written
                    reservation.settle(spent)
                except Exception:
                    logger.exception("Could not settle the budget reservation of query %s", row.pk)
            raise
        if reservation is not None:
            reservation.settled()

    def _settle_slot(self, response: ProviderResponse | None) -> None:
        """Book the real tokens against the rate window."""
        if self.slot is not None:
            if response is not None:
                self.slot.settle(response.usage.input_tokens + response.usage.output_tokens)
            self.slot = None

    def _admit(self, row: LLMQuery, messages: list[dict]) -> None:
        """Budget first (refuse before anything is sent), then a place among the model's requests in
        flight, then rate-limit capacity (booked as late as possible: the provider counts the send)."""
        has_budgets = bool(budgets.applicable(self.user))
        limited = bool(self.model.rpm_limit or self.model.tpm_limit)
        gated = bool(self.model.max_concurrent)
        if not (has_budgets or limited or gated):
            return
        self._settle_row(row)  # the reservation is a transaction on the same connection
        n_in = count_input_tokens(messages, self.json_schema) if has_budgets or limited else 0
        try:
            if has_budgets:
                max_cost = cost_for(self.model, Usage(input_tokens=n_in, output_tokens=self.max_tokens))
                self.reservation = budgets.reserve(
                    self.user, max_cost, what=f"this call to {self.provider.name}/{self.model.name}"
                )
            if gated:
                self.lease = concurrency.acquire(self.model)
            if limited:
                self.slot = ratelimit.acquire(self.model, n_in + self.max_tokens)
        except budgets.LLMBudgetExceeded as exc:
            self.finish_row(row, messages=messages, response=None, status=LLMQuery.Status.BUDGET_EXCEEDED,
                            error=str(exc), latency_ms=0)
            exc.query_id = row.pk
            raise
        except ratelimit.RateLimitTimeout as exc:
            self._release_lease()
            self.finish_row(row, messages=messages, response=None, status=LLMQuery.Status.RATE_LIMITED,
                            error=str(exc), latency_ms=0)
            exc.query_id = row.pk
            raise
        except BaseException:
            self._release_lease()
            raise

    def _release_lease(self) -> None:
        lease, self.lease = self.lease, None
        if lease is not None:
            lease.release()

    def attempt_once(self, messages: list[dict]) -> tuple[ProviderResponse, LLMQuery, int]:
        # The row's INSERT travels while the request is built: the SDK clients settle it right
        # before the request's first byte leaves (providers.base.before_send), so the row is in the
        # database before the provider sees the call; other clients settle it here, before execute.
        row = self.new_row(LLMQuery.Status.STARTED, nowait=True)
        try:
            client = client_for(self.provider, api_key=self.api_key)
            client.prepare()
            self._admit(row, messages)
            request = self.request_for(messages)
            if row.pk is not None or not client.settles_before_send:
                self._settle_row(row)  # (already settled, e.g. by a query in between: a hit must not be sent)
        except BaseException:
            self._settle_row(row)  # never leave a statement in flight on the connection
            raise
        started = time.monotonic()
        try:
            try:
                response = client.execute(request)
            finally:  # the next request may go while this one's answer is parsed and logged
                self._release_lease()
        except ProviderCallError as exc:
            self._settle_row(row)  # the database refused the row (and the send hook stopped the request): that error
            self.finish_row(row, messages=messages, response=None, status=exc.status, error=str(exc),
                            latency_ms=ms_since(started), http_status=exc.http_status)
            exc.query_id = row.pk
            raise
        except Exception as exc:  # an SDK surprise: log it as an error attempt, never lose the row
            self._settle_row(row)
            self.finish_row(row, messages=messages, response=None, status=LLMQuery.Status.ERROR,
                            error=f"{type(exc).__name__}: {exc}", latency_ms=ms_since(started))
            raise LLMError(f"{self.provider.name} call failed unexpectedly: {type(exc).__name__}: {exc}", query_id=row.pk) from exc
        except BaseException:
            self._settle_row(row)
            raise
        self._settle_row(row)  # a no-op unless the client never sent (settles_before_send was wrong)
        return response, row, ms_since(started)

    def request_for(self, messages: list[dict]) -> ProviderRequest:
        """The provider request of an attempt (``complete()``'s and ``llm.stream``'s alike)."""
        return ProviderRequest(
            model=self.model.name, messages=messages, max_tokens=self.max_tokens, temperature=self.temperature,
            json_schema=self.json_schema, schema_name=self.schema_name or "response",
            cache_points=self.cache_points(messages),
        )

    def cache_points(self, messages: list[dict]) -> list:
        # LLM_PROMPT_CACHE=off: no breakpoints anywhere (interactive, streamed or gathered for a batch).
        if self.prompt_cache is False or not settings.LLM_PROMPT_CACHE:
            return []
        return prompts.cache_points(messages, ttl=self.prompt_cache if isinstance(self.prompt_cache, str) else None)

    def transport(self, messages: list[dict]) -> tuple[ProviderResponse, LLMQuery, int]:
        if self.delivered is not None and self.next_delivery == "interactive" and self.attempt == 0:
            # The batch's answer is the first attempt; anything after it (a retry prompt) is interactive.
            self.next_delivery = "batch"
            row = self.new_row(LLMQuery.Status.STARTED)
            self.next_delivery = "interactive"
            self.reservation = self.delivered.reservation
            return self.delivered.response, row, self.delivered.latency_ms
        return with_retries(lambda: self.attempt_once(messages))



@definitions.pinning  # one check of the cached provider/model/budget rows per call
def prepare_call(*, purpose: str, messages=None, prompt=None, system=None, model=None, provider=None, schema=None,
                 max_tokens=None, temperature=None, user=None, run=None, interaction_type: str = "", batch=None,
                 context=None, api_key=None, template_version: str = "", prompt_cache: "bool | str" = True,
                 delivered: "Delivered | None" = None) -> _Call:
    """The checks and the state every call starts from, for ``complete()`` and ``llm.stream()``
    alike (llm/calls/streaming.py): the target resolved, messages normalised, the token limit, the
    template the messages came from and the answer-cache key."""
    if prompt_cache not in (True, False, *prompts.CACHE_TTLS):
        raise ValueError(f"prompt_cache must be True, False, '5m' or '1h', not {prompt_cache!r}.")
    if not purpose:
        raise ValueError("purpose is required, e.g. purpose='notes.summary'.")
    provider_row, model_name = resolve_target(provider, model)
    problem = provider_row.configuration_problem()
    if problem and not (api_key and provider_row.enabled):
        from ..errors import LLMConfigurationError

        raise LLMConfigurationError(problem)
    model_row = resolve_model(provider_row, model_name, user=user)
    msgs = normalize_messages(messages, prompt, system)
    if (content_parts.has_images(msgs) and not model_row.supports_vision
            and model_row.price_source in (LLMModel.PriceSource.BUNDLED, LLMModel.PriceSource.IMPORTED)):
        from ..errors import LLMConfigurationError

        raise LLMConfigurationError(
            f"{provider_row.name}/{model_row.name} does not accept images; choose a vision-capable model "
            "(e.g. gpt-4o, claude-sonnet-4-5, gemini-2.0-flash)."
        )
    json_schema, schema_name = structured.schema_of(schema)
    limit = max_tokens or min(model_row.max_output_tokens or settings.LLM_DEFAULT_MAX_TOKENS, settings.LLM_DEFAULT_MAX_TOKENS)
    call = _Call(
        purpose=purpose, provider=provider_row, model=model_row, messages=msgs, json_schema=json_schema,
        schema_name=schema_name, max_tokens=limit, temperature=temperature, user=user, run_id=run_id_of(run),
        interaction_type=interaction_type, batch=batch, context=context, api_key=api_key, cache_key="",
        prompt_cache=prompt_cache,
        delivered=delivered,
    )
    call.prompt_template = call.prompt_template or template_version[:200]
    call.cache_key = cache_key_for(provider_row, model_row, msgs, call.params, json_schema,
                                   template_version or call.prompt_template,
                                   scope=answer_cache.scope_for(user))

    return call


@definitions.pinning  # the whole call (its checks, budgets and pricing) uses one snapshot of the definitions
def complete(
    *,
    purpose: str,
    messages: list[dict] | None = None,
    prompt: str | None = None,
    system: str | None = None,
    model: "LLMModel | str | None" = None,
    provider: "LLMProvider | str | None" = None,
    schema=None,
    max_tokens: int | None = None,
    temperature: float | None = None,
    user=None,
    run=None,
    interaction_type: str = "",
    batch: int | None = None,
    context: dict | None = None,
    api_key: str | None = None,
    validation_retries: int | None = None,
    template_version: str = "",
    cache: bool = True,
    cache_ttl: int | None = None,
    prompt_cache: "bool | str" = True,
    delivered: Delivered | None = None,
) -> Completion:
    """Call a model and return its answer (parsed and validated when ``schema`` is given).

    Raises ``ManualAnswerPending`` on the manual provider until a person pastes the answer,
    ``LLMRequestRejected`` for 4xx (``LLMQuotaExhausted`` when out of credit or quota),
    ``LLMUnavailableError`` when retries run out, ``LLMTruncatedError`` when the token limit cut
    the answer (``LLMPausedError`` when the provider paused the turn), ``LLMContextWindowExceeded``,
    ``LLMRefusedError`` / ``LLMBlockedError`` when the model declined or a safety filter blocked
    it (see llm/calls/outcomes.py), and ``LLMInvalidOutputError`` when the answer never fit the schema. Every attempt is an ``LLMQuery`` row either way.

    Messages rendered from templates (``llm.prompts.render``) are recorded on the row by template
    and version, and their marked stable prefixes become provider cache breakpoints:
    ``prompt_cache`` True uses each template's lifetime, ``"5m"``/``"1h"`` sets it, False sends none
    (as does the setting ``LLM_PROMPT_CACHE=off``, for every call).
    """
    call = prepare_call(
        purpose=purpose, messages=messages, prompt=prompt, system=system, model=model, provider=provider,
        schema=schema, max_tokens=max_tokens, temperature=temperature, user=user, run=run,
        interaction_type=interaction_type, batch=batch, context=context, api_key=api_key,
        template_version=template_version, prompt_cache=prompt_cache, delivered=delivered,
    )
    call.defer_row = True
    call.schema = schema
    provider_row, model_row, msgs = call.provider, call.model, call.messages
    json_schema, schema_name, limit = call.json_schema, call.schema_name, call.max_tokens

    if provider_row.kind == LLMProvider.Kind.MANUAL:
        return _manual(call, schema)
    if cache and settings.LLM_CACHE_ENABLED and delivered is None:  # a batch answer is paid for: it is delivered
        if _gathered(call, schema, template_version=template_version, validation_retries=validation_retries):
            raise _batch_pending(call)
        hit = _from_cache(call, schema)
        if hit is not None:
            return hit

    retries = settings.LLM_VALIDATION_RETRIES if validation_retries is None else validation_retries
    conversation = list(msgs)
    for round_no in range(retries + 1):
        try:
            response, row, latency = call.transport(conversation)
        except _CacheHit as hit:  # the overlapped lookup found the answer before the request left
            return _answer_from_cache(call, hit.entry, hit.parsed, row=hit.row)
        if outcomes.is_terminal(response):  # refused, blocked, cut off or paused: logged as such, never re-asked
            status, error, exc = outcomes.terminal(response, provider=provider_row.name, model=model_row.name,
                                                   limit=limit, query_id=row.pk)
            call.finish_row(row, messages=conversation, response=response, status=status, error=error,
                            latency_ms=latency, http_status=response.http_status)
            raise exc
        parsed: Any = None
        if json_schema is not None:
            result = structured.parse(response.text, schema)
            if not result.ok:
                call.finish_row(row, messages=conversation, response=response, status=LLMQuery.Status.INVALID_OUTPUT,
                                error=result.error, latency_ms=latency, http_status=response.http_status)
                if round_no == retries:
                    raise LLMInvalidOutputError(
                        f"{provider_row.name}/{model_row.name} gave an answer that does not fit the schema "
                        f"{schema_name} after {retries + 1} tries (last query #{row.pk}): {result.error}",
                        last_text=response.text, query_id=row.pk,
                    )
                conversation = conversation + [
                    {"role": "assistant", "content": response.text},
                    {"role": "user", "content": retry_prompt(result.error)},
                ]
                continue
            parsed = result.value
        call.finish_row(row, messages=conversation, response=response, status=LLMQuery.Status.OK,
                        latency_ms=latency, http_status=response.http_status,
                        cache_answer=settings.LLM_CACHE_ENABLED, cache_ttl=cache_ttl)
        return Completion(
            text=response.text, parsed=parsed, usage=response.usage, cost_usd=row.cost_usd, query_id=row.pk,
            provider=provider_row.name, model=model_row.name, latency_ms=latency, file_path=row.file_path,
            attempts=call.attempt, query_ids=call.query_ids,
        )
    raise AssertionError("unreachable")  # pragma: no cover


def _gathered(call: _Call, schema, *, template_version: str, validation_retries: int | None) -> bool:
    """In llm.batch collect mode, a call not answered by the cache is gathered (llm/calls/collect.py).

    The lookup here finds no row to write: ``_from_cache`` (which logs the hit or starts the first
    attempt's row) runs only for a call that is not gathered."""
    from . import collect

    gathered = collect.active()
    if gathered is None or answer_cache.lookup(call.cache_key) is not None:
        return False
    gathered.append(collect.Gathered(call.provider, call.model.name, call.cache_key, dict(
        purpose=call.purpose, messages=call.messages, schema=schema, max_tokens=call.max_tokens,
        temperature=call.temperature, run=call.run_id or None, interaction_type=call.interaction_type, batch=call.batch,
        context=call.context,
        # The template part of the key, as complete() made it (a rendered template records itself): the
        # delivered call, made from these stored (plain-text) messages, must land on the same cache key.
        template_version=template_version or call.prompt_template or "",
        validation_retries=validation_retries,
        # Where the rendered templates' stable prefixes end: stored messages are plain JSON, so the
        # batch request would lose them (and Anthropic's cache_control breakpoints with them).
        cache_points=[[p.message, p.part, p.offset, p.ttl] for p in call.cache_points(call.messages)],
    )))
    return True


def _batch_pending(call: _Call):
    from .collect import BatchPending

    return BatchPending(call.cache_key)


def _picks_up_batch_answer(entry) -> bool:
    """In collect mode (a batch pass, llm/calls/collect.py), a hit on an answer a provider batch delivered."""
    from .collect import active

    if active() is None or not entry.source_query_id:
        return False
    return LLMQuery.objects.filter(pk=entry.source_query_id, delivery="batch").exists()


def _from_cache(call: _Call, schema, *, overlap: bool = True) -> Completion | None:
    """The cached answer (None: a miss, or not known yet). On PostgreSQL the lookup and the call's
    first log row go to the database together: on a miss the row is the first attempt's, on a hit
    it becomes the cache_hit row. Outside a transaction they are only sent here, and settled while
    the SDK builds the request (attempt_once): a hit then stops the request before it leaves.
    ``overlap=False`` (llm.stream, whose attempt does not settle rows) always waits for the lookup."""
    call.lookup_started = time.monotonic()
    if interaction_writer.cache_pending(call.cache_key):
        interaction_writer.flush_rows()  # the same request answered a moment ago: its entry is still queued
    if connection.vendor == "postgresql":
        lookup = answer_cache.lookup_statement(call.cache_key)
        if overlap and call.first_row_overlapped(lookup):
            return None
        entry = answer_cache.entry_from_row(call.first_row_with_lookup(lookup))
    else:
        entry = answer_cache.lookup(call.cache_key)
    if entry is None:
        return None
    parsed = None
    if call.json_schema is not None:
        result = structured.parse(entry.response_text, schema)
        if not result.ok:
            return None
        parsed = result.value
    return _answer_from_cache(call, entry, parsed)


def _answer_from_cache(call: _Call, entry, parsed, row: LLMQuery | None = None) -> Completion:
    """Log the cache_hit row (``row``: the call's first row, already in the database) and return the answer."""
    started = call.lookup_started
    usage = Usage(**{k: v for k, v in (entry.usage or {}).items() if k in Usage.__dataclass_fields__})
    if row is None:
        row = call.new_row(LLMQuery.Status.CACHE_HIT)
    row.status = LLMQuery.Status.CACHE_HIT
    row.input_tokens, row.cached_input_tokens = usage.input_tokens, usage.cached_input_tokens
    row.cache_write_input_tokens, row.output_tokens = usage.cache_write_input_tokens, usage.output_tokens
    row.cache_write_1h_input_tokens = usage.cache_write_1h_input_tokens
    row.reasoning_tokens = usage.reasoning_tokens
    row.cost_usd = Decimal("0")
    row.saved_cost_usd = entry.cost_usd
    if _picks_up_batch_answer(entry):
        # A batch pass reading the answer its provider batch delivered: paid for (at batch prices) by
        # the delivered row, so nothing was saved; the row says which batch it came from.
        source = LLMQuery.objects.filter(pk=entry.source_query_id).values("provider_batch_id", "batch_custom_id").first()
        row.delivery, row.saved_cost_usd = "batch", Decimal("0")
        row.provider_batch_id, row.batch_custom_id = source["provider_batch_id"], source["batch_custom_id"]
    # The answer's interaction file is the one of the call that produced it.
    row.file_path, row.file_sha256 = entry.file_path, entry.file_sha256
    row.latency_ms = ms_since(started)
    row.finished_at = timezone.now()
    deferred = call.defer_row and interaction_writer.can_defer()
    if deferred:
        try:
            interaction_writer.finish(row, [rollups.statement(row)])  # applied by the background writer
        except Exception:
            logger.exception("Could not journal the final update of query %s; writing it now", row.pk)
            deferred = False
    if not deferred:
        dblog.update(row, [rollups.statement(row)])
    return Completion(
        text=entry.response_text, parsed=parsed, usage=usage, cost_usd=Decimal("0"), query_id=row.pk,
        provider=call.provider.name, model=call.model.name, latency_ms=row.latency_ms, file_path=row.file_path,
        attempts=0, status=LLMQuery.Status.CACHE_HIT, query_ids=[row.pk],
    )


def _manual(call: _Call, schema) -> Completion:
    """The copy/paste tier: store the prompt once, then return the pasted answer when it exists."""
    previous = (
        LLMQuery.objects.filter(
            provider=call.provider, cache_key=call.cache_key, user_id=getattr(call.user, "pk", None),
            status__in=[LLMQuery.Status.OK, LLMQuery.Status.PENDING_MANUAL],
        )
        .select_related("manual")
        .order_by("-id")
        .first()
    )
    if previous is not None and previous.status == LLMQuery.Status.PENDING_MANUAL:
        raise ManualAnswerPending(previous.pk)
    if previous is not None:
        answer = previous.manual.answer_text
        parsed = None
        if call.json_schema is not None:
            result = structured.parse(answer, schema)
            if not result.ok:
                raise LLMInvalidOutputError(
                    f"The pasted answer for query #{previous.pk} does not fit {call.schema_name}: {result.error}",
                    last_text=answer, query_id=previous.pk,
                )
            parsed = result.value
        return Completion(
            text=answer, parsed=parsed,
            usage=Usage(input_tokens=previous.input_tokens, output_tokens=previous.output_tokens),
            cost_usd=previous.cost_usd, query_id=previous.pk, provider=call.provider.name, model=previous.model_name,
            latency_ms=previous.latency_ms or 0, file_path=previous.file_path, attempts=previous.attempt,
            query_ids=[previous.pk],
        )
    row = call.new_row(LLMQuery.Status.PENDING_MANUAL)
    prompt_text = render_prompt(call.messages, call.json_schema)
    ManualInteraction.objects.create(
        query=row, prompt_text=prompt_text, messages=content_parts.redacted(call.messages), json_schema=call.json_schema,
        schema_name=call.schema_name,
    )
    path = interactions.file_name(
        run_id=call.run_id, interaction_type=call.interaction_type, batch=call.batch, attempt=row.attempt,
        when=row.created_at, unique=f"{call.cache_key}:{row.pk}",
    )
    doc = call.document(row, messages=call.messages, response=None)
    doc["prompt"] = prompt_text
    row.file_path, row.file_sha256 = interactions.write(path, doc)
    row.save(update_fields=["file_path", "file_sha256"])
    raise ManualAnswerPending(row.pk)
