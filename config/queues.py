"""Celery queue names and routing, shared by settings and the tests' own workers."""

import fnmatch

KINDS = ("interactive", "bulk", "images")


def queue_names(prefix: str = "") -> dict[str, str]:
    return {kind: f"{prefix}{kind}" for kind in KINDS}


# (task name pattern, queue kind). Interactive: artifacts, wizard steps, playground jobs, webhooks.
# Bulk: segmentation, codegen, bulk product generation, evaluation experiments, the periodic jobs (ops.tasks, the rollup and
# cache tasks of llm). Images: every image task. The first matching pattern wins.
ROUTES = [
    ("segmentation.tasks.*", "bulk"),
    ("codegen.tasks.*", "bulk"),
    ("products.tasks.run_bulk_item", "bulk"),
    ("products.tasks.run_bulk_batch_pass", "bulk"),
    ("ops.tasks.*", "bulk"),
    ("evals.tasks.*", "bulk"),
    ("llm.tasks.rebuild_recent_rollups", "bulk"),
    ("llm.tasks.prune_cache", "bulk"),
    ("llm.tasks.poll_batches", "bulk"),
    ("llm.tasks.run_image_job", "images"),
    ("artifacts.tasks.make_artifact_image", "images"),
    ("llm.tasks.*", "interactive"),
    ("artifacts.tasks.*", "interactive"),
]


def task_routes(names: dict[str, str]) -> dict[str, dict[str, str]]:
    return {pattern: {"queue": names[kind]} for pattern, kind in ROUTES}


def kind_of(task_name: str, default: str = "interactive") -> str:
    """The queue kind a task is routed to (the same glob matching as Celery's routes)."""
    for pattern, kind in ROUTES:
        if fnmatch.fnmatchcase(task_name, pattern):
            return kind
    return default


class QueueTimeLimits:
    """Task annotations (``CELERY_TASK_ANNOTATIONS``): a task that declares no time limits of its
    own gets the (soft, hard) limits of the queue it is routed to. A task's own limits win, so a
    webhook keeps its 60 s and codegen its CODEGEN_TASK_SOFT_TIME_LIMIT."""

    def __init__(self, limits: dict[str, tuple[int, int]]):
        for kind, (soft, hard) in limits.items():
            if not 0 < soft < hard:
                raise ValueError(f"The {kind} queue's time limits must satisfy 0 < soft < hard, got {soft}/{hard}.")
        self.limits = limits

    def annotate(self, task):
        if task.soft_time_limit is not None or task.time_limit is not None or task.name.startswith("celery."):
            return None
        soft, hard = self.limits[kind_of(task.name)]
        return {"soft_time_limit": soft, "time_limit": hard}
