"""Starting a run: check the input, create the run, its products and its extract batches."""

from django.db import transaction

from llm.records import interactions
from llm.calls import tokens
from llm.errors import LLMConfigurationError
from llm.providers import get_provider, resolve_model

from .. import conf, prompting
from ..batching import calculate_optimal_batch_sizes, chunks, split
from ..models import SegmentationRun, Stage
from . import storage
from .base import DEFAULT_CONTEXT_WINDOW, OUTPUT_TOKENS_PER_PRODUCT, Batch, StartError


def clean_product_ids(product_ids) -> list[int]:
    if not product_ids:
        raise StartError("product_ids is empty: choose at least one product.")
    try:
        ids = sorted({int(pk) for pk in product_ids})
    except (TypeError, ValueError):
        raise StartError("product_ids must be a list of integer product ids.") from None
    limit = conf.max_products()
    if len(ids) > limit:
        raise StartError(f"{len(ids)} products is over the maximum of {limit} per run (SEGMENTATION_MAX_PRODUCTS).")
    found: set[int] = set()
    for part in chunks(ids, 10_000):
        found.update(storage.existing_product_ids(part))
    unknown = [pk for pk in ids if pk not in found]
    if unknown:
        shown = ", ".join(map(str, unknown[:20])) + (f" and {len(unknown) - 20} more" if len(unknown) > 20 else "")
        raise StartError(f"Unknown product ids: {shown}.")
    return ids


def start_run(*, owner, product_ids, category: str, provider: str | None = None, model: str | None = None,
              temperature: float | None = None, fresh: bool = False, delivery: str = "interactive") -> SegmentationRun:
    """Validate the input, create the run, its products and its extract batches (nothing is called yet).

    ``delivery="batch"`` sends each stage's calls in provider batches (pipeline/batched.py); a
    provider without a batch API (copy/paste) runs interactively."""
    category = (category or "").strip()
    if not category:
        raise StartError("category is empty: name the product category being segmented.")
    if len(category) > 255:
        raise StartError("category is longer than 255 characters.")
    if temperature is not None and not (0 <= float(temperature) <= 2):
        raise StartError("temperature must be between 0 and 2.")
    ids = clean_product_ids(product_ids)
    try:
        provider_row = get_provider(provider or None)
        model_row = resolve_model(provider_row, model or None, user=owner)
    except LLMConfigurationError as exc:
        raise StartError(str(exc)) from None
    temperature = conf.default_temperature() if temperature is None else float(temperature)
    delivery = _delivery(delivery, provider_row, model_row, fresh=fresh)
    run_id = interactions.new_run_id()
    params = {
        "products_per_prompt": conf.products_per_prompt(),
        "taxonomies_per_consolidation": conf.taxonomies_per_consolidation(),
        "products_per_refinement": conf.products_per_refinement(),
        "max_retries": conf.max_retries(),
        "max_segments": conf.max_segments(),
        "prompt_version": prompting.VERSION,
    }
    with transaction.atomic():
        run = SegmentationRun.objects.create(
            id=run_id, owner=owner, category_name=category, total_products=len(ids),
            model_config={"provider": provider_row.name, "model": model_row.name, "temperature": temperature,
                          **({"fresh": True} if fresh else {})},  # fresh: never answered from llm's cache
            processing_params=params, delivery=delivery,
        )
        storage.insert_run_products(run.pk, ids)
        sizes = batch_sizes(ids, context_window=model_row.context_window or DEFAULT_CONTEXT_WINDOW,
                            max_output_tokens=model_row.max_output_tokens or 4096,
                            max_per_batch=params["products_per_prompt"])
        Batch.objects.bulk_create(
            [Batch(run=run, stage=Stage.EXTRACT, index=n, product_ids=part) for n, part in enumerate(split(ids, sizes), 1)],
            batch_size=1000,
        )
        run.processing_params = {**params, "extract_batches": len(sizes)}
        run.save(update_fields=["processing_params"])
    for name, (_, archive_name) in prompting.TEMPLATES.items():
        interactions.write_prompt_archive(run.pk, archive_name, prompting.template_text(name))
    return run


def _delivery(delivery: str, provider_row, model_row, *, fresh: bool) -> str:
    from django.conf import settings

    from llm import batch as llm_batch

    try:
        delivery = llm_batch.effective_delivery(delivery or "interactive", provider_row, model_row.name)
    except ValueError as exc:
        raise StartError(str(exc)) from None
    if delivery == "batch" and (fresh or not settings.LLM_CACHE_ENABLED):
        # A batch answer reaches the stage's code through the answer cache (llm/calls/collect.py).
        raise StartError("delivery=batch needs llm's answer cache: it cannot be combined with a fresh run "
                         "or LLM_CACHE_ENABLED=false; use delivery=interactive.")
    return delivery


def batch_sizes(ids: list[int], *, context_window: int, max_output_tokens: int, max_per_batch: int) -> list[int]:
    """``calculate_optimal_batch_sizes`` over the products' token counts, without tokenizing every product.

    A line never has more tokens than UTF-8 bytes (each token is at least one byte), so the
    byte lengths are an upper bound. When batching with the upper bounds is never cut by the
    context budget (the usual case: batches are capped by ``max_per_batch``), batching with the
    exact counts gives the very same batches, so the tokenizer runs only when it could matter.
    """
    options = dict(output_tokens_per_product=OUTPUT_TOKENS_PER_PRODUCT, max_output_tokens=max_output_tokens,
                   max_per_batch=max_per_batch)
    template = prompting.template_text("extract")
    bounds = list(storage.line_byte_bounds(ids))
    sizes = calculate_optimal_batch_sizes(context_window, bounds, **options,
                                          prompt_overhead_tokens=len(template.encode("utf-8")) + 200)
    cap = min(max_per_batch, max(1, max_output_tokens // OUTPUT_TOKENS_PER_PRODUCT))
    if all(size == cap for size in sizes[:-1]):
        return sizes
    return calculate_optimal_batch_sizes(context_window, [tokens.count_text(line) + 2 for line in storage.product_lines(ids)],
                                         **options, prompt_overhead_tokens=tokens.count_text(template) + 200)
