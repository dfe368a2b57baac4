"""Deterministic batching: the same products always make the same batches (so reruns hit the cache)."""

from collections.abc import Iterable, Sequence


def calculate_optimal_batch_sizes(
    context_window: int,
    product_token_counts: Sequence[int],
    *,
    prompt_overhead_tokens: int = 800,
    output_tokens_per_product: int = 40,
    max_output_tokens: int = 4096,
    max_per_batch: int = 40,
    safety_margin: float = 0.75,
) -> list[int]:
    """Greedy batch sizes (in input order) that fit the model's context window and output limit.

    A batch grows while its prompt (overhead + the products' tokens) stays inside
    ``context_window * safety_margin`` minus the room kept for the answer, the answer stays
    under ``max_output_tokens``, and it holds at most ``max_per_batch`` products. A single
    product too large for any batch still gets a batch of its own: it is never dropped.
    """
    if max_per_batch < 1:
        raise ValueError("max_per_batch must be at least 1")
    per_batch_by_output = max(1, max_output_tokens // max(1, output_tokens_per_product))
    cap = min(max_per_batch, per_batch_by_output)
    budget = int(context_window * safety_margin) - prompt_overhead_tokens - min(max_output_tokens, cap * output_tokens_per_product)
    sizes: list[int] = []
    size = used = 0
    for tokens in product_token_counts:
        if size and (size >= cap or used + tokens > budget):
            sizes.append(size)
            size = used = 0
        size += 1
        used += tokens
    if size:
        sizes.append(size)
    return sizes


def split(ids: Sequence[int], sizes: Iterable[int]) -> list[list[int]]:
    out, start = [], 0
    for size in sizes:
        out.append(list(ids[start : start + size]))
        start += size
    if start != len(ids):
        raise ValueError("batch sizes do not add up to the number of products")
    return out


def chunks(items: Sequence, size: int) -> list[list]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]
