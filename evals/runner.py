"""Running an experiment: create the (variant, case) results, claim them one at a time with a
conditional UPDATE, answer and score each, and sum the figures per variant.

No Celery here: ``tasks.run_experiment`` calls ``work`` (several threads per task), the command
calls it inline. A result whose worker died stays "running" with an old ``claimed_at``; after
EVALS_CLAIM_LEASE seconds any worker may take it again (up to EVALS_MAX_ATTEMPTS claims).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import close_old_connections, connection, connections, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

import llm
from llm.calls.collect import BatchPending
from llm.errors import LLMError, ManualAnswerPending
from llm.models import LLMQuery

from . import registry
from .context import Context
from .models import Case, CaseResult, Dataset, Experiment, ResultQuery, Score, Variant

logger = logging.getLogger(__name__)


def lease_seconds() -> int:
    return int(getattr(settings, "EVALS_CLAIM_LEASE", 600))


def max_attempts() -> int:
    return int(getattr(settings, "EVALS_MAX_ATTEMPTS", 3))


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


# --- variants and experiments ----------------------------------------------------------------


class VariantSpecError(ValueError):
    pass


def parse_variant(spec: str, suite: registry.Suite) -> dict:
    """``TEMPLATE_VERSION:PROVIDER:MODEL`` (e.g. ``3:openai:gpt-4o-mini``; ``v3`` works too; an
    empty part means the default), optionally followed by ``:temperature=0,max_tokens=200``."""
    parts = spec.split(":")
    if len(parts) < 3 or len(parts) > 4:
        raise VariantSpecError(f"Variant {spec!r}: write TEMPLATE_VERSION:PROVIDER:MODEL, e.g. 3:openai:gpt-4o-mini.")
    version, provider, model = (p.strip() for p in parts[:3])
    params: dict = {}
    if len(parts) == 4 and parts[3].strip():
        for item in parts[3].split(","):
            key, _, value = item.partition("=")
            key = key.strip()
            if key not in ("temperature", "max_tokens") or not value.strip():
                raise VariantSpecError(f"Variant {spec!r}: parameters are temperature=… and max_tokens=…, not {item!r}.")
            try:
                params[key] = float(value) if key == "temperature" else int(value)
            except ValueError:
                raise VariantSpecError(f"Variant {spec!r}: {key} must be a number, not {value!r}.") from None
    number = None
    if version:
        try:
            number = int(version.lstrip("vV"))
        except ValueError:
            raise VariantSpecError(f"Variant {spec!r}: the template version must be a number like 3 or v3.") from None
    else:
        number = suite.default_version
    if suite.versions is not None and number is not None and number not in suite.versions():
        raise VariantSpecError(f"Variant {spec!r}: {suite.template} has no version {number}; "
                               f"it has {', '.join(map(str, suite.versions())) or 'none'}.")
    return {"template": suite.template, "template_version": number, "provider": provider, "model": model,
            "params": params}


def default_variant(suite: registry.Suite) -> dict:
    """The suite's current template version on the default provider and model."""
    return {"template": suite.template, "template_version": suite.default_version, "provider": "", "model": "",
            "params": {}}


def latest_dataset(name: str) -> Dataset | None:
    return Dataset.objects.filter(name=name).order_by("-version").first()


@transaction.atomic
def create_experiment(*, suite: str, dataset: Dataset | None = None, variants: list[dict] | None = None, owner=None,
                      name: str = "", use_cache: bool = True, trigger: str = "manual",
                      delivery: str = "interactive") -> Experiment:
    """``delivery="batch"``: each variant's cases go out in provider batches (evals/batch_delivery.py);
    variants on a provider without a batch API (copy/paste) run interactively."""
    s = registry.get(suite)
    if delivery not in ("interactive", "batch"):
        raise ValueError(f"delivery must be one of interactive, batch, not {delivery!r}.")
    if delivery == "batch" and (not use_cache or not settings.LLM_CACHE_ENABLED):
        # A batch answer reaches the suite's code through llm's answer cache (llm/calls/collect.py).
        raise ValueError("delivery=batch needs llm's answer cache: it cannot be combined with --no-cache "
                         "(use_cache off) or LLM_CACHE_ENABLED=false; use delivery=interactive.")
    dataset = dataset or latest_dataset(suite)
    if dataset is None:
        raise ValueError(f"No dataset for {suite}: import one (manage.py eval import) or run manage.py seed_demo.")
    case_ids = list(dataset.cases.values_list("id", flat=True))
    if not case_ids:
        raise ValueError(f"Dataset {dataset} has no cases.")
    experiment = Experiment.objects.create(
        suite=s.name, dataset=dataset, owner=owner if getattr(owner, "pk", None) else None, name=name,
        use_cache=use_cache, trigger=trigger, run_id=llm.new_run_id(), delivery=delivery,
    )
    for spec in variants or [default_variant(s)]:
        variant = Variant.objects.create(experiment=experiment, **spec)
        CaseResult.objects.bulk_create([CaseResult(variant=variant, case_id=cid) for cid in case_ids], batch_size=2000)
    return experiment


# --- claiming --------------------------------------------------------------------------------

# The picked ids are materialised first: an ``id IN (SELECT … LIMIT n)`` may be re-scanned by the
# planner and claim more than n rows.
_CLAIM_SQL = """
WITH picked AS MATERIALIZED (
    SELECT r.id FROM evals_caseresult r JOIN evals_variant v ON v.id = r.variant_id
    WHERE v.experiment_id = %(experiment)s
      AND (r.status = 'pending' OR (r.status = 'running' AND r.claimed_at < %(stale)s))
    ORDER BY r.id LIMIT %(limit)s FOR UPDATE OF r SKIP LOCKED
)
UPDATE evals_caseresult c SET status = 'running', claimed_at = %(now)s, claimed_by = %(worker)s,
       attempts = c.attempts + 1
FROM picked
WHERE c.id = picked.id AND (c.status = 'pending' OR (c.status = 'running' AND c.claimed_at < %(stale)s))
RETURNING c.id, c.attempts
"""


def claim_batch(experiment_id: int, worker: str, limit: int = 1) -> list[int]:
    """Take up to ``limit`` pending (or abandoned) results of the experiment with one UPDATE; []
    when there are none. A result claimed more than EVALS_MAX_ATTEMPTS times is failed instead."""
    while True:
        now = timezone.now()
        with connection.cursor() as cursor:
            cursor.execute(_CLAIM_SQL, {"now": now, "worker": worker, "experiment": experiment_id, "limit": max(1, limit),
                                        "stale": now - timedelta(seconds=lease_seconds())})
            rows = cursor.fetchall()
        if not rows:
            return []
        dead = [rid for rid, attempts in rows if attempts > max_attempts()]
        if dead:
            CaseResult.objects.filter(pk__in=dead, claimed_by=worker).update(
                status=CaseResult.Status.FAILED, error_kind="worker_died", finished_at=timezone.now(),
                error=f"Claimed more than {max_attempts()} times and never finished: the worker running it died each time.",
            )
        alive = sorted(rid for rid, attempts in rows if attempts <= max_attempts())
        if alive:
            return alive


def claim_next(experiment_id: int, worker: str) -> int | None:
    """Take the next pending (or abandoned) result of the experiment; None when there is none."""
    claimed = claim_batch(experiment_id, worker, 1)
    return claimed[0] if claimed else None


def claim_size(experiment_id: int, threads: int) -> int:
    """Cases per claim: a few at a time while there are many left (fewer round trips), one at a
    time near the end (so no thread sits on cases while the others are idle)."""
    limit = int(getattr(settings, "EVALS_CLAIM_BATCH", 8))
    if limit <= 1:
        return 1
    # Only "fewer than limit x 4 x threads left" matters: count no further (a COUNT of every
    # pending row of a 6,000-result experiment before each claim was PostgreSQL work per case).
    enough = limit * 4 * max(1, threads)
    left = CaseResult.objects.filter(variant__experiment_id=experiment_id, status=CaseResult.Status.PENDING)[:enough].count()
    return max(1, min(limit, left // max(1, 4 * threads)))


# --- one case --------------------------------------------------------------------------------


def _cause_chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def error_kind(exc: BaseException) -> str:
    """The kind of failure, for "failures by kind": the logged call's status when a call failed."""
    for e in _cause_chain(exc):
        if isinstance(e, LLMError):
            if e.query_id:
                status = LLMQuery.objects.filter(pk=e.query_id).values_list("status", flat=True).first()
                if status and status not in (LLMQuery.Status.OK, LLMQuery.Status.CACHE_HIT):
                    return status
            return type(e).__name__
    return type(exc).__name__


def _pending_query(exc: BaseException) -> int | None:
    for e in _cause_chain(exc):
        if isinstance(e, ManualAnswerPending):
            return e.query_id
    return None


BATCHED = "batched"


def _batch_pending(exc: BaseException) -> bool:
    return any(isinstance(e, BatchPending) for e in _cause_chain(exc))


def load_results(result_ids: list[int]) -> list[CaseResult]:
    return list(CaseResult.objects.select_related("variant__experiment", "case").filter(pk__in=result_ids).order_by("id"))


def run_one(result_id: "int | CaseResult", worker: str, writer: "ResultWriter | None" = None) -> str:
    """Answer and score one claimed result; returns its new status (``BATCHED`` in llm collect mode:
    its next call was gathered for a provider batch, nothing written). Writes only if the claim is
    still this worker's (a result taken over after a stale lease is the new worker's). With a
    ``writer``, the writes wait in it and go with other results' (``ResultWriter.flush``)."""
    result = result_id if isinstance(result_id, CaseResult) else load_results([result_id])[0]
    experiment = result.variant.experiment
    suite = registry.get(experiment.suite)
    ctx = Context(variant=result.variant, result_id=result.pk, run_id=experiment.run_id, user=experiment.owner,
                  use_cache=experiment.use_cache)
    values: dict = {"answer": None, "score": None, "error": "", "error_kind": "", "pending_query_id": None}
    verdicts = []
    try:
        answer = suite.run(result.case.input, ctx)
    except Exception as exc:  # a failed case is a result too (counted by kind), never a crashed run
        pending = _pending_query(exc)
        if _batch_pending(exc):
            return BATCHED  # delivery=batch: its call waits in a provider batch; the claim stays the pass's
        if pending:
            ctx.record(pending)
            values.update(status=CaseResult.Status.WAITING, pending_query_id=pending,
                          error="Waiting for a pasted answer.")
        else:
            values.update(status=CaseResult.Status.FAILED, error_kind=error_kind(exc)[:40], error=str(exc)[:4000])
            if not isinstance(exc, LLMError):
                logger.info("eval case %s failed: %s", result_id, traceback.format_exc(limit=5))
    else:
        values.update(status=CaseResult.Status.DONE, answer=_jsonable(answer))
        for scorer in suite.scorers:
            try:
                verdict = scorer(values["answer"], result.case.expected, result.case.input, ctx=ctx)
            except Exception as exc:  # a judge that failed: the answer stays, the score is missing
                if _batch_pending(exc):
                    return BATCHED  # the judge's call is in a provider batch too
                values["error"] += f"{scorer.name} failed: {exc}\n"
                continue
            verdicts.append((scorer, verdict))
        main = next((v for s, v in verdicts if s is suite.main_scorer), None)
        values["score"] = main.value if main is not None else None
    own = writer is None
    writer = writer or ResultWriter(worker)
    writer.add(result, values, verdicts, ctx)
    if own:
        writer.flush()
    return values["status"]


def _jsonable(value):
    import json

    return json.loads(json.dumps(value, default=str))


class ResultWriter:
    """Finished results of one worker thread, written together: one read of their calls, then in
    one transaction one UPDATE of every result (only those still claimed by this worker), the
    links to their calls and their scores. Flushed every ``size`` results or ``seconds``."""

    def __init__(self, worker: str, *, size: int = 1, seconds: float = 1.0):
        self.worker = worker
        self.size = max(1, size)
        self.seconds = seconds
        self.pending: list[tuple[CaseResult, dict, list, Context]] = []
        self.oldest = 0.0

    def add(self, result: CaseResult, values: dict, verdicts: list, ctx: Context) -> None:
        if not self.pending:
            self.oldest = time.monotonic()
        self.pending.append((result, values, verdicts, ctx))
        if len(self.pending) >= self.size or time.monotonic() - self.oldest >= self.seconds:
            self.flush()

    def flush(self) -> int:
        """Write what is waiting; returns how many results were still this worker's."""
        if not self.pending:
            return 0
        batch, self.pending = self.pending, []
        from .judge import PURPOSE as JUDGE_PURPOSE

        # Calls the suite made but could not report (an attempt before a failure) carry the case's batch.
        reported = {q for _, _, _, ctx in batch for q in (*ctx.query_ids, *ctx.judge_query_ids)}
        found = Q(pk__in=reported) if reported else Q(pk__in=[])
        run_ids = {ctx.run_id for _, _, _, ctx in batch if ctx.run_id}
        if run_ids:
            unreported = Q(run_id__in=run_ids, batch__in=[r.pk for r, _, _, _ in batch])
            claimed = [r.claimed_at for r, _, _, _ in batch if r.claimed_at is not None]
            if claimed:
                # Made since these results were claimed: without the bound PostgreSQL read every
                # call of the run (its run_id index) on every flush, 21 ms at 6,000 calls.
                unreported &= Q(created_at__gte=min(claimed) - timedelta(seconds=5))
            found |= unreported
        calls = {row["pk"]: row for row in LLMQuery.objects.filter(found).values(
            "pk", "purpose", "run_id", "batch", "status", "cost_usd", "input_tokens", "output_tokens", "latency_ms")}
        updates, links, scores = {}, [], []
        for result, values, verdicts, ctx in batch:
            logged = {q: row["purpose"] for q, row in calls.items() if ctx.run_id and row["run_id"] == ctx.run_id
                      and row["batch"] == result.pk}
            judge_ids = set(ctx.judge_query_ids) | {q for q, p in logged.items() if p == JUDGE_PURPOSE}
            answer_ids = (set(ctx.query_ids) | set(logged)) - judge_ids
            rows = [calls[q] for q in answer_ids if q in calls and calls[q]["status"] != LLMQuery.Status.PENDING_MANUAL]
            costs = [r["cost_usd"] for r in rows]
            values = {
                **values,
                "calls": len(rows),
                "cache_hits": sum(1 for r in rows if r["status"] == LLMQuery.Status.CACHE_HIT),
                "input_tokens": sum(r["input_tokens"] for r in rows),
                "output_tokens": sum(r["output_tokens"] for r in rows),
                "latency_ms": sum(r["latency_ms"] or 0 for r in rows) if rows else None,
                "cost_usd": None if any(c is None for c in costs) else sum(costs, Decimal("0")),
                "finished_at": timezone.now() if values["status"] != CaseResult.Status.WAITING else None,
            }
            updates[result.pk] = values
            links += [ResultQuery(result_id=result.pk, query_id=q, role="answer") for q in sorted(answer_ids)]
            links += [ResultQuery(result_id=result.pk, query_id=q, role="judge") for q in sorted(judge_ids)]
            main_query = max(ctx.query_ids) if ctx.query_ids else None
            scores += [Score(result_id=result.pk, query_id=main_query, scorer=scorer.name, value=verdict.value,
                             details=_jsonable(verdict.details),
                             source=Score.Source.JUDGE if scorer.needs_context else Score.Source.AUTO)
                       for scorer, verdict in verdicts]
        with transaction.atomic():
            owned = set(_update_results(updates, self.worker))
            if not owned:
                return 0  # every claim went to another worker (this one was presumed dead); their answers win
            # Only a result claimed before (its worker died, or it waited for a paste) can have links
            # and scores from an earlier attempt: a first claim has nothing to delete.
            again = [r.pk for r, _, _, _ in batch if r.pk in owned and r.attempts > 1]
            if again:
                ResultQuery.objects.filter(result_id__in=again).delete()
                Score.objects.filter(result_id__in=again).exclude(source=Score.Source.HUMAN).delete()
            ResultQuery.objects.bulk_create([link for link in links if link.result_id in owned], ignore_conflicts=True)
            Score.objects.bulk_create([score for score in scores if score.result_id in owned])
        return len(owned)


_RESULT_COLUMNS = ("status", "answer", "score", "error", "error_kind", "pending_query_id", "calls", "cache_hits",
                   "input_tokens", "output_tokens", "latency_ms", "cost_usd", "finished_at")
_RESULT_TYPES = {"status": "varchar", "answer": "jsonb", "score": "double precision", "error": "text",
                 "error_kind": "varchar", "pending_query_id": "bigint", "calls": "integer", "cache_hits": "integer",
                 "input_tokens": "integer", "output_tokens": "integer", "latency_ms": "integer",
                 "cost_usd": "numeric", "finished_at": "timestamptz"}


def _update_results(updates: dict[int, dict], worker: str) -> list[int]:
    """One UPDATE … FROM (VALUES …) of the results still claimed by ``worker``; their ids."""
    import json

    if connection.vendor != "postgresql":  # one statement per result elsewhere (SQLite tests, dev)
        return [pk for pk, values in updates.items()
                if CaseResult.objects.filter(pk=pk, claimed_by=worker, status=CaseResult.Status.RUNNING).update(**values)]
    rows, params = [], []
    for pk, values in updates.items():
        rows.append("(" + ", ".join(["%s::bigint"] + [f"%s::{_RESULT_TYPES[c]}" for c in _RESULT_COLUMNS]) + ")")
        params.append(pk)
        for column in _RESULT_COLUMNS:
            value = values.get(column)
            params.append(json.dumps(value) if column == "answer" and value is not None else value)
    assignments = ", ".join(f"{c} = v.{c}" for c in _RESULT_COLUMNS)
    sql = (f"UPDATE evals_caseresult r SET {assignments} FROM (VALUES {', '.join(rows)}) "
           f"AS v(id, {', '.join(_RESULT_COLUMNS)}) WHERE r.id = v.id AND r.claimed_by = %s AND r.status = 'running' "
           f"RETURNING r.id")
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, worker])
        return [row[0] for row in cursor.fetchall()]


# --- the loop --------------------------------------------------------------------------------


def _work_thread(experiment_id: int, deadline: float | None, threads: int = 1) -> int:
    done = 0
    worker = worker_name()
    writer = ResultWriter(worker, size=int(getattr(settings, "EVALS_WRITE_BATCH", 8)),
                          seconds=float(getattr(settings, "EVALS_WRITE_SECONDS", 1.0)))
    try:
        while deadline is None or time.monotonic() < deadline:
            claimed = claim_batch(experiment_id, worker, claim_size(experiment_id, threads))
            if not claimed:
                break
            for result in load_results(claimed):
                run_one(result, worker, writer)
                done += 1
        writer.flush()
    finally:
        if threading.current_thread() is not threading.main_thread():
            connections.close_all()
    return done


def work(experiment_id: int, *, concurrency: int | None = None, seconds: float | None = None) -> Experiment:
    """Run the experiment's remaining cases (safe to call again: finished ones are skipped). With
    ``seconds``, stop claiming after that long (the task then enqueues a fresh one)."""
    n = concurrency or int(getattr(settings, "EVALS_CONCURRENCY", 8))
    Experiment.objects.filter(pk=experiment_id).exclude(status=Experiment.Status.DONE).update(
        status=Experiment.Status.RUNNING, updated_at=timezone.now()
    )
    deadline = time.monotonic() + seconds if seconds else None
    if n <= 1:
        _work_thread(experiment_id, deadline, 1)
    else:
        close_old_connections()
        with ThreadPoolExecutor(max_workers=n, thread_name_prefix=f"eval{experiment_id}") as pool:
            for future in [pool.submit(_work_thread, experiment_id, deadline, n) for _ in range(n)]:
                future.result()
    return finish(experiment_id)


def has_claimable(experiment_id: int) -> bool:
    stale = timezone.now() - timedelta(seconds=lease_seconds())
    return CaseResult.objects.filter(variant__experiment_id=experiment_id).filter(
        Q(status=CaseResult.Status.PENDING) | Q(status=CaseResult.Status.RUNNING, claimed_at__lt=stale)
    ).exists()


def finish(experiment_id: int) -> Experiment:
    """Set the experiment's status from its results' (waiting cases keep it "waiting")."""
    experiment = Experiment.objects.get(pk=experiment_id)
    counts = dict(CaseResult.objects.filter(variant__experiment=experiment).values_list("status").annotate(n=Count("id")))
    if counts.get(CaseResult.Status.PENDING) or counts.get(CaseResult.Status.RUNNING):
        return experiment  # another worker still has some
    status = Experiment.Status.WAITING if counts.get(CaseResult.Status.WAITING) else Experiment.Status.DONE
    Experiment.objects.filter(pk=experiment.pk).update(
        status=status, updated_at=timezone.now(), finished_at=timezone.now() if status == Experiment.Status.DONE else None
    )
    experiment.refresh_from_db()
    return experiment


def resume_waiting(query_id: int) -> list[int]:
    """A pasted answer arrived: the cases waiting for it go back to pending. Returns their experiments."""
    results = CaseResult.objects.filter(pending_query_id=query_id, status=CaseResult.Status.WAITING)
    experiments = sorted(set(results.values_list("variant__experiment_id", flat=True)))
    results.update(status=CaseResult.Status.PENDING, error="", pending_query=None)
    return experiments


def stale_experiments() -> list[int]:
    """Experiments with a result whose claim has expired (their worker died)."""
    cutoff = timezone.now() - timedelta(seconds=lease_seconds())
    return sorted(set(
        CaseResult.objects.filter(Q(status=CaseResult.Status.RUNNING, claimed_at__lt=cutoff))
        .values_list("variant__experiment_id", flat=True)
    ))
