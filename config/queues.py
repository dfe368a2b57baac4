"""Celery queue names and routing, shared by settings and the tests' own workers."""

KINDS = ("interactive", "bulk", "images")


def queue_names(prefix: str = "") -> dict[str, str]:
    return {kind: f"{prefix}{kind}" for kind in KINDS}


def task_routes(names: dict[str, str]) -> dict[str, dict[str, str]]:
    """Interactive: artifacts, wizard steps, playground jobs, webhooks. Bulk: segmentation, codegen,
    bulk product generation. Images: every image task. The first matching pattern wins."""
    return {
        "segmentation.tasks.*": {"queue": names["bulk"]},
        "codegen.tasks.*": {"queue": names["bulk"]},
        "products.tasks.run_bulk_item": {"queue": names["bulk"]},
        "ops.tasks.*": {"queue": names["bulk"]},
        "llm.tasks.run_image_job": {"queue": names["images"]},
        "artifacts.tasks.make_artifact_image": {"queue": names["images"]},
        "llm.tasks.*": {"queue": names["interactive"]},
        "artifacts.tasks.*": {"queue": names["interactive"]},
    }
