import pytest

from segmentation.batching import calculate_optimal_batch_sizes, split


def test_batches_are_capped_by_the_configured_size():
    assert calculate_optimal_batch_sizes(128_000, [50] * 100, max_per_batch=40) == [40, 40, 20]


def test_batches_shrink_to_fit_a_small_context_window():
    sizes = calculate_optimal_batch_sizes(4000, [200] * 30, prompt_overhead_tokens=500, output_tokens_per_product=10,
                                          max_output_tokens=1000, max_per_batch=40, safety_margin=1.0)
    # budget = 4000 - 500 - min(1000, 40*10) = 3100 tokens -> 15 products of 200
    assert sizes == [15, 15]


def test_the_output_limit_caps_a_batch():
    assert calculate_optimal_batch_sizes(1_000_000, [10] * 50, output_tokens_per_product=100, max_output_tokens=1000,
                                         max_per_batch=40) == [10] * 5


def test_a_product_too_big_for_any_batch_still_gets_one():
    assert calculate_optimal_batch_sizes(1000, [10, 5000, 10], prompt_overhead_tokens=100, max_per_batch=40) == [1, 1, 1]
    assert sum(calculate_optimal_batch_sizes(8000, [37, 500, 12, 900] * 25)) == 100


def test_split_is_deterministic():
    ids = list(range(1, 11))
    assert split(ids, [4, 4, 2]) == [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10]]


def test_consolidation_call_count_is_one_per_group_per_level():
    from segmentation.pipeline import consolidation_calls

    assert consolidation_calls(1, 20) == 1
    assert consolidation_calls(20, 20) == 1
    assert consolidation_calls(50, 20) == 4  # 3 groups, then 1
    assert consolidation_calls(500, 20) == 25 + 2 + 1


@pytest.mark.django_db
@pytest.mark.parametrize("context_window", [128_000, 6_000, 3_000])
def test_batching_on_byte_bounds_gives_the_batches_of_exact_token_counts(context_window):
    from llm.calls import tokens
    from segmentation import pipeline, prompting
    from segmentation.tests.fakes import make_products

    ids = make_products(90)
    exact = calculate_optimal_batch_sizes(
        context_window, [tokens.count_text(line) + 2 for line in pipeline._product_lines(ids)],
        prompt_overhead_tokens=tokens.count_text(prompting.template_text("extract")) + 200,
        output_tokens_per_product=pipeline.OUTPUT_TOKENS_PER_PRODUCT, max_output_tokens=4096, max_per_batch=40,
    )
    assert pipeline._batch_sizes(ids, context_window=context_window, max_output_tokens=4096, max_per_batch=40) == exact
    bounds = calculate_optimal_batch_sizes(
        context_window, [len(line.encode()) + 2 for line in pipeline._product_lines(ids)],
        prompt_overhead_tokens=len(prompting.template_text("extract").encode()) + 200,
        output_tokens_per_product=pipeline.OUTPUT_TOKENS_PER_PRODUCT, max_output_tokens=4096, max_per_batch=40,
    )
    # Big window: the byte bounds are enough. Small ones: they would cut early, so the exact counts decide.
    assert (bounds == exact) == (context_window == 128_000)
