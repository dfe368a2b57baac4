"""The segmentation pipeline (seed 004): extract taxonomy per batch -> consolidate -> refine.

No HTTP, no Celery. Work is cut into ``SegmentationBatch`` rows; a worker claims one with a
conditional UPDATE, does it, and stores its result; ``advance`` moves the run to the next
stage exactly once (another conditional UPDATE). Every step checks what already exists, so a
resumed run redoes only unfinished batches, and sends byte-identical requests (deterministic
batches, prompts and schemas) so the llm cache answers what was already paid for.

This package is the door; its parts:

* ``extract``, ``consolidate``, ``refine``: one module per stage, each with the same shape:
  ``build_prompt(...)``, ``read_answer(answer, ...)`` (parse and check ONE answer, a live
  call's or a downloaded one: no call needed) and ``write_results(...)``, plus ``run_batch``
  that chains them through ``asking.ask`` (the retry loop shared by the stages);
* ``starting`` (a new run and its extract batches), ``control`` (claim, do, advance,
  finalize), ``resume`` (cancel, resume, the stale-run watch), ``inline`` (the in-process
  runner), ``progress`` (calls, index, progress and ETA);
* ``batched``: delivery=batch, a pass per stage round through provider batches (llm/batch/);
* ``storage``: the bulk reads and writes.
"""

from .asking import Collected, Prompt
from .base import (
    CHUNK,
    DEFAULT_CONTEXT_WINDOW,
    INTERACTION_TYPES,
    MAX_SEGMENTS,
    OUTPUT_TOKENS_PER_PRODUCT,
    PROMPT_OF_TYPE,
    Batch,
    Run,
    RunStopped,
    StartError,
)
from .batched import batch_pass, send_pass, waiting_on_provider, waiting_on_provider_batch
from .control import advance, claim, finalize, pending_batches, process_batch, release, run_one
from .inline import run_inline
from .progress import consolidation_calls, index_interactions, progress, run_queries, with_first_pass
from .resume import cancel_run, quiet_cutoff, resume_run, resume_stale, stale_cutoff, stale_run_ids
from .starting import batch_sizes, clean_product_ids, start_run
from .storage import product_lines

# The old private names, still imported by tests (segmentation/tests/test_batching.py).
_batch_sizes = batch_sizes
_product_lines = product_lines

__all__ = [
    "CHUNK", "DEFAULT_CONTEXT_WINDOW", "INTERACTION_TYPES", "MAX_SEGMENTS", "OUTPUT_TOKENS_PER_PRODUCT", "PROMPT_OF_TYPE",
    "Batch", "Collected", "Prompt", "Run", "RunStopped", "StartError", "advance", "batch_pass", "batch_sizes", "cancel_run", "claim",
    "clean_product_ids", "consolidation_calls", "finalize", "index_interactions", "pending_batches", "process_batch",
    "progress", "quiet_cutoff", "release", "resume_run", "resume_stale", "run_inline", "run_one", "run_queries",
    "send_pass", "stale_cutoff", "stale_run_ids", "start_run", "waiting_on_provider", "waiting_on_provider_batch",
    "with_first_pass",
]
