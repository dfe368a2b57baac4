"""What every part of the pipeline shares: the row aliases, the stage names, the two exceptions."""

from ..models import SegmentationBatch, SegmentationRun, Stage

Batch = SegmentationBatch
Run = SegmentationRun
INTERACTION_TYPES = {Stage.EXTRACT: "segmentation", Stage.CONSOLIDATE: "consolidate_taxonomy", Stage.REFINE: "refine_assignments"}
PROMPT_OF_TYPE = {"segmentation": "extract", "consolidate_taxonomy": "consolidate", "refine_assignments": "refine"}
DEFAULT_CONTEXT_WINDOW = 128_000
OUTPUT_TOKENS_PER_PRODUCT = 40
MAX_SEGMENTS = 12
CHUNK = 2000


class StartError(ValueError):
    """Bad input for a new run; the message names the problem (a 400 in the API)."""


class RunStopped(Exception):
    """The run was cancelled (or failed elsewhere) while this batch was working."""


def check_active(run: SegmentationRun) -> None:
    status = Run.objects.filter(pk=run.pk).values_list("status", flat=True).first()
    if status != Run.Status.RUNNING:
        raise RunStopped(status or "deleted")
