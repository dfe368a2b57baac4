"""Submit, poll, deliver and cancel provider batches.

Crash safety, step by step:

* ``submit`` writes the batch and its items (state PREPARING) and commits before anything goes to
  the provider; the provider's batch id is written the moment ``create`` returns, before
  ``submit`` does. A batch left PREPARING (a crash before or during create) is sent by the next
  poll, which first looks for a batch the provider already has under the same marker (OpenAI
  metadata, Gemini display name) so a crash right after create does not pay twice.
* Custom ids are the requests' hashes (the answer cache key): a resubmitted request keeps its id,
  and ``submit`` skips an owner's requests already in a batch, so calling it twice sends nothing twice.
* Polls run from Celery beat. A poller claims a batch with a conditional UPDATE and a lease; a
  worker killed mid-poll leaves the claim to expire and the next beat takes it over. Results are
  stored on the items (verbatim) before any is delivered; delivery claims each item the same way.
* What a batch did not answer (expired, cancelled by the provider, lost) is resubmitted in a new
  batch, or with ``on_missing="interactive"`` asked interactively; a request the provider failed
  is asked interactively (its error is logged by that call).

Budgets: ``submit`` reserves every request's most possible cost (its input tokens, every allowed
output token, at batch prices) against the user's and the global budgets before anything is sent,
all or nothing (``LLMBudgetExceeded`` says by how much; the run fails with that reason and can be
resumed). Each item holds its share: its delivered answer's row books the real cost against it in
the row's own transaction; a request the batch did not answer releases it (an interactive ask
reserves its own); a resubmitted one carries it to the next batch.

Delivery goes through ``complete(delivered=…)``: the batch answer is the call's first attempt
(delivery="batch", batch prices), then the usual validation and retry prompt (interactive), the
interaction files and the LLMQuery rows; then the owner's handler gets the Completion.
"""

from __future__ import annotations

import json

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.module_loading import import_string

from decimal import Decimal

from ..calls import budgets
from ..calls import service as llm_service
from ..calls import structured
from ..calls.tokens import count_input_tokens
from ..errors import LLMError, ProviderCallError
from ..models import LLMProvider
from ..providers import ProviderRequest, Usage, resolve_model, resolve_target
from ..records import charge_for
from ..calls.retry import run_id_of
from . import adapters
from ..calls.collect import BatchPending, Gathered, collecting
from .models import LLMBatch, LLMBatchItem

logger = logging.getLogger(__name__)

__all__ = [
    "BatchPending", "collecting", "submit_gathered",
    "BatchCancelled", "Handler", "Request", "cancel", "deliver", "effective_delivery", "handler_names",
    "poll", "poll_due", "register_handler", "submit", "summary", "supports_batch",
]

DELIVERIES = ("interactive", "batch")


def _lease() -> timedelta:
    return timedelta(seconds=getattr(settings, "LLM_BATCH_LEASE_SECONDS", 300))


def _max_rounds() -> int:
    return getattr(settings, "LLM_BATCH_MAX_ROUNDS", 3)


class BatchCancelled(LLMError):
    """The request's batch was cancelled before it answered."""


class Handler(Protocol):
    """What an owner does with its answers; the same code as its interactive path."""

    def on_answer(self, owner: str, key: str, completion: llm_service.Completion) -> None: ...

    def on_error(self, owner: str, key: str, error: Exception) -> None: ...

    def on_finished(self, owner: str) -> None: ...


_HANDLERS: dict[str, Handler] = {}


def register_handler(name: str, handler: Handler) -> None:
    """Called at an app's ``ready()``: llm never imports a domain app, it looks handlers up by name."""
    _HANDLERS[name] = handler


def handler_names() -> list[str]:
    return sorted(_HANDLERS)


def _handler(name: str) -> Handler:
    try:
        return _HANDLERS[name]
    except KeyError:
        raise LLMError(f"No batch handler {name!r} is registered (known: {', '.join(handler_names()) or 'none'}); "
                       "register it with llm.batch.register_handler at the app's ready().") from None


@dataclass
class Request:
    """One request of a batch: the arguments ``complete()`` takes, and the owner's key for it."""

    key: str
    purpose: str
    messages: list[dict] | None = None
    prompt: str | None = None
    system: str | None = None
    schema: Any = None  # a pydantic model class (importable by its dotted path) or a JSON-schema dict
    max_tokens: int | None = None
    temperature: float | None = None
    run: Any = None
    interaction_type: str = ""
    batch: int | None = None  # the run's own chunk number (LLMQuery.batch), not the provider batch
    context: dict | None = None
    template_version: str = ""
    validation_retries: int | None = None
    # Prompt-cache breakpoints, [message, part, offset, ttl] each (llm.prompts.CachePoint): the end of
    # each marked stable prefix, so batch requests carry Anthropic's cache_control as interactive ones do.
    cache_points: list | None = None


def _cache_points(stored: dict) -> list:
    from ..prompts import CachePoint

    points = []
    for point in stored.get("cache_points") or []:
        message, part, offset, ttl = point
        points.append(CachePoint(int(message), None if part is None else int(part), int(offset), str(ttl)))
    return points


def supports_batch(provider: "LLMProvider | str | None" = None, model=None) -> bool:
    """Whether the provider a call would go to has a batch API (the copy/paste provider has none)."""
    row, _ = resolve_target(provider, model)
    return row.kind in adapters.ADAPTERS


def effective_delivery(delivery: str, provider=None, model=None) -> str:
    """The delivery a run gets: ``batch`` only where the provider has a batch API, else interactive."""
    if delivery not in DELIVERIES:
        raise ValueError(f"delivery must be one of {', '.join(DELIVERIES)}, not {delivery!r}.")
    if delivery == "batch" and not supports_batch(provider, model):
        return "interactive"
    return delivery


def _schema_ref(schema) -> tuple[str, dict | None]:
    if schema is None or isinstance(schema, dict):
        return "", schema
    ref = f"{schema.__module__}.{schema.__qualname__}"
    try:
        if import_string(ref) is not schema:
            raise ImportError
    except ImportError:
        # A model made at run time (pydantic.create_model, e.g. an enum of this prompt's ids): its
        # JSON schema is stored instead. schema_of() gives the dict the same schema and name (the
        # title), so the delivered call lands on the caller's cache key, and it is validated with it.
        json_schema, name = structured.schema_of(schema)
        if json_schema is None or str(json_schema.get("title") or "response") != name:
            raise ValueError(f"A batch request's schema must be importable by its dotted path; {ref} is not "
                             "(define the pydantic model at module level, or pass a JSON-schema dict).") from None
        return "", json.loads(json.dumps(json_schema))
    return ref, None


def _prepare(req: Request, provider_row, model_row, user) -> tuple[str, dict, ProviderRequest]:
    """(custom id, the stored request, the provider request) — the same preparation as ``complete()``."""
    if not req.key:
        raise ValueError("Every batch request needs a key (the owner's id for it, e.g. a product id).")
    msgs = llm_service.normalize_messages(req.messages, req.prompt, req.system)
    json_schema, schema_name = structured.schema_of(req.schema)
    limit = req.max_tokens or min(model_row.max_output_tokens or settings.LLM_DEFAULT_MAX_TOKENS,
                                  settings.LLM_DEFAULT_MAX_TOKENS)
    params = {"max_tokens": limit}
    if req.temperature is not None:
        params["temperature"] = req.temperature
    if json_schema is not None:
        params["schema_name"] = schema_name
    from ..calls import cache as answer_cache

    custom_id = llm_service.cache_key_for(provider_row, model_row, msgs, params, json_schema, req.template_version,
                                          scope=answer_cache.scope_for(user))
    schema_ref, schema_dict = _schema_ref(req.schema)
    stored = {
        "purpose": req.purpose, "messages": msgs, "schema_ref": schema_ref, "schema": schema_dict,
        "max_tokens": limit, "temperature": req.temperature, "run_id": run_id_of(req.run),
        "interaction_type": req.interaction_type, "batch": req.batch, "context": req.context or {},
        "template_version": req.template_version, "validation_retries": req.validation_retries,
        "cache_points": [list(p) for p in req.cache_points or []],
    }
    provider_request = ProviderRequest(model=model_row.name, messages=msgs, max_tokens=limit,
                                       temperature=req.temperature, json_schema=json_schema,
                                       schema_name=schema_name or "response", cache_points=_cache_points(stored))
    return custom_id, stored, provider_request


def _provider_request(batch: LLMBatch, stored: dict) -> ProviderRequest:
    schema = import_string(stored["schema_ref"]) if stored.get("schema_ref") else stored.get("schema")
    json_schema, schema_name = structured.schema_of(schema)
    return ProviderRequest(model=batch.model_name, messages=stored["messages"], max_tokens=stored["max_tokens"],
                           temperature=stored.get("temperature"), json_schema=json_schema,
                           schema_name=schema_name or "response", cache_points=_cache_points(stored))


def _chunks(adapter: adapters.Adapter, prepared: list) -> list[list]:
    """Split (key, custom_id, stored, size) rows into batches within the provider's count and size limits."""
    out, current, seen, size = [], [], set(), 0
    for row in prepared:
        _, custom_id, _, n = row
        new = custom_id not in seen
        if current and new and (len(seen) + 1 > adapter.max_requests or size + n > adapter.max_bytes):
            out.append(current)
            current, seen, size = [], set(), 0
            new = True
        if n > adapter.max_bytes:
            raise ValueError(f"One request is {n} bytes, more than a {adapter.kind} batch may hold ({adapter.max_bytes}).")
        current.append(row)
        if new:
            seen.add(custom_id)
            size += n
    if current:
        out.append(current)
    return out


def submit(*, owner: str, handler: str, requests: list[Request], provider=None, model=None, user=None,
           on_missing: str = LLMBatch.OnMissing.RESUBMIT, api_key: str | None = None) -> list[LLMBatch]:
    """Send ``requests`` as provider batches; return the batches (their ids stored before this returns).

    Requests of ``owner`` already in one of its batches (same key, same custom id) are skipped.
    """
    _handler(handler)
    if on_missing not in LLMBatch.OnMissing.values:
        raise ValueError(f"on_missing must be one of {', '.join(LLMBatch.OnMissing.values)}, not {on_missing!r}.")
    provider_row, model_name = resolve_target(provider, model)
    adapter = adapters.adapter_for(provider_row, api_key=api_key)
    if adapter is None:
        raise LLMError(f"Provider {provider_row.name} ({provider_row.get_kind_display()}) has no batch API; "
                       "use delivery=interactive (llm.batch.effective_delivery says which applies).")
    problem = provider_row.configuration_problem()
    if problem and not api_key:
        from ..errors import LLMConfigurationError

        raise LLMConfigurationError(problem)
    model_row = resolve_model(provider_row, model_name, user=user)
    already = set(
        LLMBatchItem.objects.filter(batch__owner=owner)
        .exclude(status__in=[LLMBatchItem.Status.RESUBMITTED])
        .values_list("key", "custom_id")
    )
    prepared, keys = [], set()
    has_budgets = bool(budgets.applicable(user))
    shares: dict[str, Decimal] = {}
    for req in requests:
        custom_id, stored, provider_request = _prepare(req, provider_row, model_row, user)
        if (req.key, custom_id) in already or req.key in keys:
            continue
        keys.add(req.key)
        _, size = adapter.entry(custom_id, provider_request)
        prepared.append((req.key, custom_id, stored, size))
        if has_budgets and custom_id not in shares:
            shares[custom_id] = _max_cost(model_row, provider_request)
    # The budgets are checked once for the whole submission, before anything is sent: every request's
    # most possible cost at batch prices is reserved (refused as a whole when it does not fit), each
    # item holds its share until its answer books the real cost (or it is released, llm/calls/budgets.py).
    reservation = _reserve(user, shares, len(prepared), provider_row, model_row) if has_budgets and prepared else None
    batches, assigned = [], set()
    try:
        for chunk in _chunks(adapter, prepared):
            with transaction.atomic():
                batch = LLMBatch.objects.create(
                    owner=owner, handler=handler, user=user if getattr(user, "pk", None) else None, provider=provider_row,
                    provider_kind=provider_row.kind, model_name=model_row.name, on_missing=on_missing,
                    total=len({c for _, c, _, _ in chunk}), claimed_until=timezone.now() + _lease(),
                    budget_usage_ids=reservation.usage_ids if reservation else [],
                )
                items = []
                for key, cid, stored, _ in chunk:  # an identical request of two keys is asked (and reserved) once
                    items.append(LLMBatchItem(batch=batch, key=key, custom_id=cid, request=stored,
                                              reserved_usd=shares.get(cid, 0) if cid not in assigned else 0))
                    assigned.add(cid)
                LLMBatchItem.objects.bulk_create(items)
            if reservation is not None:
                reservation.amount -= sum((i.reserved_usd for i in items), Decimal("0"))
            _send(batch, adapter)
            _release(batch)
            batches.append(batch)
    finally:
        if reservation is not None and reservation.amount:  # shares that never became items
            reservation.release()
    return batches


def _max_cost(model_row, request: ProviderRequest) -> Decimal | None:
    n_in = count_input_tokens(request.messages, request.json_schema)
    return charge_for(model_row, Usage(input_tokens=n_in, output_tokens=request.max_tokens), batch=True).cost


def _reserve(user, shares: dict, n: int, provider_row, model_row) -> budgets.Reservation:
    what = f"this batch of {n} requests to {provider_row.name}/{model_row.name}"
    if any(v is None for v in shares.values()):
        return budgets.reserve(user, None, what=what)  # refused: no known price
    return budgets.reserve(user, sum(shares.values(), Decimal("0")), what=what)


def _share(batch: LLMBatch, item: LLMBatchItem) -> budgets.Reservation | None:
    """The item's part of its batch's budget reservation (None when no budget applied)."""
    if not batch.budget_usage_ids or not item.reserved_usd:
        return None
    return budgets.Reservation(list(batch.budget_usage_ids), Decimal(item.reserved_usd))


def _drop_share(item_id: int) -> None:
    LLMBatchItem.objects.filter(pk=item_id).update(reserved_usd=0)


def submit_gathered(*, owner: str, handler: str, gathered: list[Gathered], user=None,
                    on_missing: str = LLMBatch.OnMissing.RESUBMIT) -> list[LLMBatch]:
    """Submit what a collect pass gathered (llm/calls/collect.py), one batch per provider and model;
    each request's key is its custom id (identical requests of two items are asked once)."""
    groups: dict[tuple, list[Gathered]] = {}
    for g in gathered:
        groups.setdefault((g.provider.pk, g.model), []).append(g)
    batches = []
    for group in groups.values():
        requests = [Request(key=g.custom_id, **g.kwargs) for g in group]
        batches += submit(owner=owner, handler=handler, requests=requests, provider=group[0].provider,
                          model=group[0].model, user=user, on_missing=on_missing)
    return batches


def _marker(batch: LLMBatch) -> str:
    return f"llm-batch-{batch.pk}"


def _send(batch: LLMBatch, adapter: adapters.Adapter, *, adopt: bool = False) -> None:
    """Create the provider batch of a PREPARING batch and store its id at once."""
    batch_id = adapter.find(_marker(batch)) if adopt else None
    expires = None
    if batch_id is None:
        entries, seen = [], set()
        for item in batch.items.all():
            if item.custom_id in seen:
                continue
            seen.add(item.custom_id)
            entries.append(adapter.entry(item.custom_id, _provider_request(batch, item.request))[0])
        try:
            batch_id, expires = adapter.create(_marker(batch), batch.model_name, entries)
        except ProviderCallError as exc:
            if exc.retryable:  # left PREPARING: the next poll sends it
                LLMBatch.objects.filter(pk=batch.pk).update(error=str(exc)[:2000])
                batch.error = str(exc)
                return
            _fail_batch(batch, f"The provider refused the batch: {exc}")
            return
    now = timezone.now()
    LLMBatch.objects.filter(pk=batch.pk, state=LLMBatch.State.PREPARING).update(
        provider_batch_id=batch_id, state=LLMBatch.State.SUBMITTED, submitted_at=now, expires_at=expires, error="",
    )
    batch.provider_batch_id, batch.state, batch.submitted_at, batch.expires_at = batch_id, LLMBatch.State.SUBMITTED, now, expires


def _fail_batch(batch: LLMBatch, error: str) -> None:
    """A batch the provider will never run: its items are asked interactively instead."""
    with transaction.atomic():
        batch.items.filter(status=LLMBatchItem.Status.PENDING).update(status=LLMBatchItem.Status.ERRORED, error=error[:2000])
        LLMBatch.objects.filter(pk=batch.pk).update(state=LLMBatch.State.ENDED, error=error[:2000], ended_at=timezone.now())
    batch.state, batch.error = LLMBatch.State.ENDED, error


def _claim(batch_id: int) -> bool:
    now = timezone.now()
    return bool(
        LLMBatch.objects.filter(pk=batch_id, state__in=LLMBatch.ACTIVE_STATES)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(claimed_until=now + _lease())
    )


def _release(batch: LLMBatch) -> None:
    LLMBatch.objects.filter(pk=batch.pk).update(claimed_until=None)


def poll_due() -> int:
    """Poll every active batch no other worker holds (Celery beat). Returns how many were polled."""
    polled = 0
    for batch_id in LLMBatch.objects.active().values_list("pk", flat=True):
        if not _claim(batch_id):
            continue
        batch = LLMBatch.objects.select_related("provider").get(pk=batch_id)
        try:
            poll(batch)
        except ProviderCallError as exc:  # the provider is away: the next beat tries again
            logger.warning("Polling batch %s failed: %s", batch.pk, exc)
            LLMBatch.objects.filter(pk=batch.pk).update(error=str(exc)[:2000])
        finally:
            _release(batch)
        polled += 1
    return polled


def poll(batch: LLMBatch) -> LLMBatch:
    """One step for one batch (its claim held by the caller): send, cancel, check, store results, deliver."""
    adapter = adapters.adapter_for(batch.provider)
    if batch.state == LLMBatch.State.PREPARING:
        if batch.cancel_requested:
            _cancel_unsent(batch)
            return batch
        _send(batch, adapter, adopt=True)
        return batch
    if batch.cancel_requested and batch.state in (LLMBatch.State.SUBMITTED, LLMBatch.State.IN_PROGRESS):
        adapter.cancel(batch.provider_batch_id)
        LLMBatch.objects.filter(pk=batch.pk).update(state=LLMBatch.State.CANCELLING)
        batch.state = LLMBatch.State.CANCELLING
    if batch.state in (LLMBatch.State.SUBMITTED, LLMBatch.State.IN_PROGRESS, LLMBatch.State.CANCELLING):
        status = adapter.retrieve(batch.provider_batch_id)
        fields = {"provider_status": status.provider_status[:40], "counts": status.counts, "polls": batch.polls + 1}
        if status.expires_at:
            fields["expires_at"] = status.expires_at
        if status.error:
            fields["error"] = status.error[:2000]
        if status.state != adapters.ENDED:
            fields["state"] = LLMBatch.State.CANCELLING if status.state == adapters.CANCELLING else LLMBatch.State.IN_PROGRESS
            LLMBatch.objects.filter(pk=batch.pk).update(**fields)
            for k, v in fields.items():
                setattr(batch, k, v)
            return batch
        _store_results(batch, adapter, status, fields)
    if batch.state == LLMBatch.State.ENDED:
        deliver(batch, adapter)
    return batch


def _store_results(batch: LLMBatch, adapter: adapters.Adapter, status: adapters.Status, fields: dict) -> None:
    """Every result onto its items, verbatim, in one transaction; then the batch is ENDED."""
    results = list(adapter.results(batch.provider_batch_id))
    with transaction.atomic():
        pending = {}
        for item in batch.items.filter(status=LLMBatchItem.Status.PENDING):
            pending.setdefault(item.custom_id, []).append(item)
        for custom_id, raw in results:
            items = pending.pop(custom_id, None)
            if not items:
                continue  # an id we never sent (or already stored): provider output is not trusted
            parsed = adapter.parse(raw)
            for item in items:
                item.status, item.result, item.error = parsed.kind, raw, parsed.error[:2000]
                item.save(update_fields=["status", "result", "error"])
        missing = [i.pk for items in pending.values() for i in items]
        if missing:
            batch.items.filter(pk__in=missing).update(status=status.missing_as,
                                                      error=f"no result (batch {status.provider_status})")
        now = timezone.now()
        LLMBatch.objects.filter(pk=batch.pk).update(state=LLMBatch.State.ENDED, ended_at=now, **fields)
    for k, v in fields.items():
        setattr(batch, k, v)
    batch.state, batch.ended_at = LLMBatch.State.ENDED, now


def _claim_item(item_id: int) -> bool:
    now = timezone.now()
    return bool(
        LLMBatchItem.objects.filter(pk=item_id).filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .exclude(status__in=[LLMBatchItem.Status.DELIVERED, LLMBatchItem.Status.FAILED, LLMBatchItem.Status.RESUBMITTED,
                             LLMBatchItem.Status.PENDING])
        .update(claimed_until=now + _lease())
    )


def _complete_kwargs(batch: LLMBatch, stored: dict) -> dict:
    schema = import_string(stored["schema_ref"]) if stored.get("schema_ref") else stored.get("schema")
    return dict(
        purpose=stored["purpose"], messages=stored["messages"], provider=batch.provider, model=batch.model_name,
        schema=schema, max_tokens=stored["max_tokens"], temperature=stored.get("temperature"), user=batch.user,
        run=stored.get("run_id") or None, interaction_type=stored.get("interaction_type") or "",
        batch=stored.get("batch"), context=stored.get("context") or {}, template_version=stored.get("template_version") or "",
        validation_retries=stored.get("validation_retries"),
    )


def deliver(batch: LLMBatch, adapter: adapters.Adapter | None = None) -> int:
    """Hand every stored result to the owner's handler through ``complete()``; resubmit what is missing."""
    adapter = adapter or adapters.adapter_for(batch.provider)
    handler = _handler(batch.handler)
    delivered, to_resubmit = 0, []
    user_cancelled = batch.cancel_requested
    for item in batch.items.exclude(status__in=[LLMBatchItem.Status.DELIVERED, LLMBatchItem.Status.FAILED,
                                                LLMBatchItem.Status.RESUBMITTED, LLMBatchItem.Status.PENDING]):
        missing = item.status in (LLMBatchItem.Status.EXPIRED, LLMBatchItem.Status.CANCELED)
        if missing and not user_cancelled and batch.on_missing == LLMBatch.OnMissing.RESUBMIT and batch.round < _max_rounds():
            to_resubmit.append(item)
            continue
        if not _claim_item(item.pk):
            continue
        delivered += 1
        _deliver_item(batch, adapter, handler, item, user_cancelled and item.status != LLMBatchItem.Status.SUCCEEDED)
    if to_resubmit:
        _resubmit(batch, to_resubmit, adapter)
    if not batch.items.exclude(status__in=[LLMBatchItem.Status.DELIVERED, LLMBatchItem.Status.FAILED,
                                           LLMBatchItem.Status.RESUBMITTED]).exists():
        LLMBatch.objects.filter(pk=batch.pk, state=LLMBatch.State.ENDED).update(
            state=LLMBatch.State.CANCELLED if user_cancelled else LLMBatch.State.DELIVERED)
        batch.state = LLMBatch.State.CANCELLED if user_cancelled else LLMBatch.State.DELIVERED
        if not LLMBatch.objects.for_owner(batch.owner).active().exists():
            finished = getattr(handler, "on_finished", None)
            if finished:
                finished(batch.owner)
    return delivered


def _deliver_item(batch, adapter, handler, item: LLMBatchItem, cancelled: bool) -> None:
    kwargs = _complete_kwargs(batch, item.request)
    completion, error = None, None
    share = _share(batch, item)
    if cancelled:
        error = BatchCancelled(f"Batch {batch.provider_batch_id} was cancelled before request {item.key} ran.")
    else:
        delivered = None
        if item.status == LLMBatchItem.Status.SUCCEEDED:
            parsed = adapter.parse(item.result or {})
            if parsed.response is not None:
                # The answer's row books its real cost against the share reserved at submission.
                delivered = llm_service.Delivered(parsed.response, batch.provider_batch_id, item.custom_id,
                                                  reservation=share)
        if delivered is None and share is not None:
            share.release()  # nothing billed in the batch; an interactive call reserves its own
            _drop_share(item.pk)
        try:
            # A failed or missing request is asked interactively here (its own rows say why).
            completion = llm_service.complete(**kwargs, delivered=delivered)
        except LLMError as exc:
            error = exc
        finally:
            if delivered is not None and share is not None:
                if share.usage_ids:  # complete() failed before the answer's row was written: book the most
                    share.settle(None)
                _drop_share(item.pk)
    if cancelled and share is not None:
        share.release()
        _drop_share(item.pk)
    try:
        if completion is not None:
            handler.on_answer(batch.owner, item.key, completion)
        else:
            handler.on_error(batch.owner, item.key, error)
    finally:
        LLMBatchItem.objects.filter(pk=item.pk).update(
            status=LLMBatchItem.Status.DELIVERED if completion is not None else LLMBatchItem.Status.FAILED,
            query_id=completion.query_id if completion is not None else getattr(error, "query_id", None),
            error=item.error if completion is not None else str(error)[:2000],
            delivered_at=timezone.now(), claimed_until=None,
        )


def _resubmit(batch: LLMBatch, items: list[LLMBatchItem], adapter: adapters.Adapter) -> LLMBatch:
    with transaction.atomic():
        again = LLMBatch.objects.create(
            owner=batch.owner, handler=batch.handler, user=batch.user, provider=batch.provider,
            provider_kind=batch.provider_kind, model_name=batch.model_name, on_missing=batch.on_missing,
            round=batch.round + 1, parent=batch, total=len({i.custom_id for i in items}),
            claimed_until=timezone.now() + _lease(), budget_usage_ids=batch.budget_usage_ids,
        )
        LLMBatchItem.objects.bulk_create(  # the reserved shares move with the requests
            [LLMBatchItem(batch=again, key=i.key, custom_id=i.custom_id, request=i.request, reserved_usd=i.reserved_usd)
             for i in items]
        )
        LLMBatchItem.objects.filter(pk__in=[i.pk for i in items]).update(status=LLMBatchItem.Status.RESUBMITTED,
                                                                          reserved_usd=0)
    _send(again, adapter)
    _release(again)
    return again


def _cancel_unsent(batch: LLMBatch) -> None:
    with transaction.atomic():
        batch.items.filter(status=LLMBatchItem.Status.PENDING).update(status=LLMBatchItem.Status.CANCELED)
        LLMBatch.objects.filter(pk=batch.pk).update(state=LLMBatch.State.ENDED, ended_at=timezone.now())
    batch.state = LLMBatch.State.ENDED
    deliver(batch)


def cancel(owner: str) -> int:
    """Cancel the owner's active batches: the provider stops them, answers already made are still
    delivered, the rest reach the handler as ``BatchCancelled``. Returns how many were cancelled."""
    n = 0
    for batch in LLMBatch.objects.for_owner(owner).active().select_related("provider"):
        if batch.state in (LLMBatch.State.ENDED, LLMBatch.State.CANCELLING):
            continue
        LLMBatch.objects.filter(pk=batch.pk).update(cancel_requested=True)
        batch.cancel_requested = True
        n += 1
        if _claim(batch.pk):
            try:
                poll(batch)  # sends the cancel now; the next polls see it through
            except ProviderCallError as exc:
                logger.warning("Cancelling batch %s failed for now (the poller retries): %s", batch.pk, exc)
            finally:
                _release(batch)
    return n


def summary(owner: str) -> dict | None:
    """The state of an owner's batches for its run page: one state word, the provider's counts, items."""
    batches = list(LLMBatch.objects.for_owner(owner).order_by("id"))
    if not batches:
        return None
    counts: dict[str, int] = {}
    for b in batches:
        for k, v in (b.counts or {}).items():
            if isinstance(v, int):
                counts[k] = counts.get(k, 0) + v
    items: dict[str, int] = {}
    for status in LLMBatchItem.objects.filter(batch__owner=owner).values_list("status", flat=True):
        items[status] = items.get(status, 0) + 1
    active = [b for b in batches if b.is_active]
    state = active[-1].get_state_display() if active else batches[-1].get_state_display()
    return {
        "state": state, "active": bool(active), "cancellable": any(not b.cancel_requested for b in active),
        "cancelled": any(b.cancel_requested for b in batches),
        "counts": counts, "items": items, "batches": batches,
    }
