"""The chained generation of seed 003: eleven model calls, each building on the plan and the files before it.

No HTTP, no Celery here. ``execute_run`` runs the steps in order; each step is claimed with a
conditional UPDATE, so a step already completed is never paid for twice and a run whose worker
died resumes at the first unfinished step. Requests are built deterministically (sorted paths,
sorted plan keys), so a resumed step sends byte-identical requests and the llm answer cache (or
the copy/paste provider's stored answer) serves what was already answered.

This package is the door; its parts: ``steps`` (the eleven steps, their phases and prompt
templates), ``plan`` (step 1) and ``files`` (steps 2 to 5), each with ``build_prompt``,
``read_answer`` (one answer, parsed or raw text: no live call) and ``write_results``;
``calling`` (one request, continued when cut off), ``imports`` (the cross-file import check and
repair), ``records`` (usage and totals) and ``control`` (create, execute, claim, finalize, re-run).
"""

from .calling import ask, heartbeat, join_parts
from .control import Context, RerunRefused, claim, create_run, execute_run, finalize, prepare_rerun, run_step
from .imports import recheck_imports, repair_imports
from .plan import plan_text
from .records import record_usage, update_totals
from .steps import (
    CONTINUATION_PROMPT,
    EMPTY_RETRY_PROMPT,
    IMPORT_REPAIR_PROMPT,
    PHASES,
    REPAIR_PROMPT,
    RULE,
    SPECS,
    STEP_KEYS,
    STEPS,
    SYSTEM_PROMPT,
    TAIL_CHARS,
    StepFailed,
    StepHeld,
    StepSpec,
    render,
    template,
)

__all__ = [
    "CONTINUATION_PROMPT", "EMPTY_RETRY_PROMPT", "IMPORT_REPAIR_PROMPT", "PHASES", "REPAIR_PROMPT", "RULE",
    "SPECS", "STEP_KEYS", "STEPS", "SYSTEM_PROMPT", "TAIL_CHARS", "Context", "RerunRefused", "StepFailed", "StepHeld",
    "StepSpec", "ask", "claim", "create_run", "execute_run", "finalize", "heartbeat", "join_parts", "plan_text",
    "prepare_rerun", "recheck_imports", "record_usage", "repair_imports", "run_step", "render", "template",
    "update_totals",
]
