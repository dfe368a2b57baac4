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
