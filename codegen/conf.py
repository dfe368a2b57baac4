"""Settings of the codegen app: ``settings.CODEGEN`` (a dict) overrides any of the defaults below.

Read through ``get()`` at call time so tests (and admins) can change one value without a restart.
"""

import environ
from django.conf import settings

env = environ.Env()

# Max output tokens per step, from seed 003's token allocation table.
DEFAULT_MAX_TOKENS = {
    "1": 2000,
    "2": 2000,
    "3.1": 3000,
    "3.2": 4000,
    "3.3": 5000,
    "3.4": 3000,
    "4.1": 3000,
    "4.2": 4000,
    "4.3": 5000,
    "4.4": 4000,
    "5": 2000,
}

DEFAULT_STACK = "FastAPI + SQLAlchemy backend; React + Vite + TypeScript + Tailwind CSS frontend"

DEFAULTS = {
    "MAX_TOKENS": DEFAULT_MAX_TOKENS,
    "DEFAULT_STACK": DEFAULT_STACK,
    # How many times a cut-off answer is continued ("ask for the rest") before the step fails.
    "MAX_CONTINUATIONS": env.int("CODEGEN_MAX_CONTINUATIONS", default=2),
    # One repair call per step when its files fail the checks.
    "REPAIR": env.bool("CODEGEN_REPAIR", default=True),
    "MAX_MOCKUP_BYTES": env.int("CODEGEN_MAX_MOCKUP_BYTES", default=5 * 1024 * 1024),
    "MAX_MOCKUP_PIXELS": env.int("CODEGEN_MAX_MOCKUP_PIXELS", default=40_000_000),
    "MAX_FILE_BYTES": env.int("CODEGEN_MAX_FILE_BYTES", default=256 * 1024),
    "MAX_FILES_PER_STEP": env.int("CODEGEN_MAX_FILES_PER_STEP", default=80),
    # A step claimed longer ago than this by a worker that is gone is taken over by the next one.
    "STEP_STALE_SECONDS": env.int("CODEGEN_STEP_STALE_SECONDS", default=20 * 60),
    # When a redelivered task finds a step held by another worker it retries this often.
    "HELD_RETRY_SECONDS": env.int("CODEGEN_HELD_RETRY_SECONDS", default=120),
    "HELD_MAX_RETRIES": env.int("CODEGEN_HELD_MAX_RETRIES", default=30),
    "TASK_SOFT_TIME_LIMIT": env.int("CODEGEN_TASK_SOFT_TIME_LIMIT", default=3600),
    "POLL_SECONDS": 1,
}


def get(name: str):
    overrides = getattr(settings, "CODEGEN", {}) or {}
    if name == "MAX_TOKENS":
        return {**DEFAULT_MAX_TOKENS, **(overrides.get("MAX_TOKENS") or {})}
    return overrides.get(name, DEFAULTS[name])
