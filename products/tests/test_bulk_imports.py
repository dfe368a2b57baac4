"""products/bulk.py is the work and products/tasks.py its task module: the arrow points one way."""

import ast
from pathlib import Path

import products


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = ("." * node.level) + (node.module or "")
            names.add(base)
            names.update(f"{base}.{a.name}" if base.endswith(".") is False else f"{base}{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_the_bulk_work_never_imports_its_task_module():
    root = Path(products.__file__).parent
    assert not {".tasks", "products.tasks"} & _imports(root / "bulk.py")
    assert ".bulk" in _imports(root / "tasks.py")  # the task imports the work


def test_an_item_is_sent_by_task_name_and_runs_inline_when_eager(db, celery_eager, owner):
    from celery.signals import task_prerun

    from products import bulk
    from products.models import BulkGenerationItem

    job = bulk.create_job(owner=owner, inputs=["x"], enqueue=False)
    item = job.items.get()
    BulkGenerationItem.objects.filter(pk=item.pk).update(status=BulkGenerationItem.Status.DONE)  # nothing to claim
    ran = []

    def record(sender=None, args=None, **kwargs):
        ran.append((sender.name, tuple(args)))

    task_prerun.connect(record, weak=False)
    try:
        bulk.send_item(item.pk)  # through Celery's registry: the eager app runs the task here, and it skips the item
    finally:
        task_prerun.disconnect(record)
    assert ran == [("products.tasks.run_bulk_item", (item.pk,))]
    item.refresh_from_db()
    assert item.status == BulkGenerationItem.Status.DONE
