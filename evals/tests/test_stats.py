import pytest

from evals import stats


def test_bootstrap_interval_contains_the_mean_and_narrows_with_more_cases():
    few = [1, 0, 1, 1, 0, 1, 0, 1, 1, 1]
    low, high = stats.bootstrap_ci(few)
    assert low < 0.7 < high
    many = few * 40
    low2, high2 = stats.bootstrap_ci(many)
    assert low2 < 0.7 < high2 and (high2 - low2) < (high - low) / 3
    assert stats.bootstrap_ci([1.0]) == (1.0, 1.0) and stats.bootstrap_ci([]) == (None, None)


def test_percentiles_interpolate_like_numpy():
    data = [10, 20, 30, 40]
    assert stats.percentile(data, 50) == 25
    assert stats.percentile(data, 95) == pytest.approx(38.5)
    assert stats.percentile([], 50) is None


def test_pareto_front_keeps_only_undominated_points():
    # (cost, score): b is dominated by a (costs more, scores less); c is dearer but best.
    points = [(1.0, 0.8), (2.0, 0.7), (3.0, 0.9), (1.0, 0.8)]
    assert stats.pareto_front(points) == {0, 2, 3}


@pytest.mark.django_db
def test_a_variant_whose_answers_have_an_unknown_cost_shows_no_cost(identify_dataset):
    from decimal import Decimal

    from evals import runner, summary
    from evals.models import CaseResult

    experiment = runner.create_experiment(suite="products.identify_category")
    results = CaseResult.objects.filter(variant__experiment=experiment).order_by("id")
    ids = list(results.values_list("id", flat=True))
    results.filter(id__in=ids[:3]).update(status="done", score=1.0, calls=1, cost_usd=Decimal("0.01"), latency_ms=100,
                                          input_tokens=10, output_tokens=2)
    results.filter(id__in=ids[3:4]).update(status="failed", error_kind="rate_limited", calls=1, cost_usd=Decimal("0.02"))
    [row] = summary.summarize(experiment)
    assert (row.cases, row.done, row.failed, row.pending) == (60, 3, 1, 56)
    assert row.cost_usd == Decimal("0.05") and row.input_tokens == 30 and row.calls == 4
    assert row.score == 0.75 and row.failures == {"rate_limited": 1} and row.latency_p50_ms == 100
    results.filter(id=ids[4]).update(calls=1, cost_usd=None)  # pending: its cost is not known yet, and not counted
    assert summary.summarize(experiment)[0].cost_usd == Decimal("0.05")
    results.filter(id=ids[0]).update(cost_usd=None)  # a finished answer whose calls have no price
    assert summary.summarize(experiment)[0].cost_usd is None
