"""The deterministic scorers, against values worked out by hand or given in scikit-learn's docs."""

import math

import pytest

from evals import scorers
from evals.scorers import Scorer, adjusted_rand_index, normalized_mutual_info


def test_exact_match_ignores_case_and_spacing_but_not_content():
    assert scorers.exact_match(" LED  Bulbs", "led bulbs").value == 1.0
    assert scorers.exact_match("LED Bulb", "LED Bulbs").value == 0.0
    assert scorers.exact_match(None, None).value == 0.0  # no answer is never right


def test_set_f1_gives_precision_and_recall():
    v = scorers.set_prf(["a", "b", "c"], ["b", "c", "d", "e"])
    assert v.details["precision"] == pytest.approx(2 / 3)
    assert v.details["recall"] == pytest.approx(0.5)
    assert v.value == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))
    assert v.details["missing"] == ["d", "e"] and v.details["extra"] == ["a"]
    assert scorers.set_prf([], []).value == 1.0 and scorers.set_prf([], ["x"]).value == 0.0


def test_numeric_tolerance():
    assert scorers.numeric_tolerance("600", 600).value == 1.0
    assert scorers.numeric_tolerance(606, 600, rel_tol=0.01).value == 1.0
    assert scorers.numeric_tolerance(607, 600, rel_tol=0.01).value == 0.0
    assert scorers.numeric_tolerance("lots", 600).value == 0.0
    assert scorers.numeric_tolerance(True, 1).value == 0.0  # a boolean is not a number here


def test_contains_and_regex():
    assert scorers.contains("The Dimmer works with LED", ["dimmer", "led", "zigbee"]).value == pytest.approx(2 / 3)
    assert scorers.regex("SKU-1234", None, pattern=r"^SKU-\d{4}$").value == 1.0
    assert scorers.regex("SKU-12", None, pattern=r"^SKU-\d{4}$").value == 0.0
    assert "bad pattern" in scorers.regex("x", None, pattern="(").details["error"]


def test_json_schema_valid_names_the_failing_field():
    schema = {"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]}
    assert scorers.json_schema_valid({"title": "x"}, None, schema=schema).value == 1.0
    bad = scorers.json_schema_valid({"title": 3}, None, schema=schema)
    assert bad.value == 0.0 and bad.details["errors"][0].startswith("title:")


def test_python_parses_scores_the_share_of_files_that_parse():
    v = scorers.python_parses({"a.py": "x = 1\n", "b.py": "def f(:\n", "README.md": "# hi"})
    assert v.value == 0.5 and "b.py" in v.details["errors"]


def test_imports_resolve_checks_project_imports_only():
    files = {"app/__init__.py": "", "app/models.py": "import os\nfrom app import utils\n",
             "app/views.py": "from .models import X\nfrom .missing import Y\nimport requests\n", "app/utils.py": ""}
    v = scorers.imports_resolve(files)
    assert v.details["checked"] == 3
    assert v.value == pytest.approx(2 / 3) and v.details["missing"] == ["app/views.py: app.missing"]


def test_coverage_and_unassigned_share_count_forgotten_items():
    labels = {"p1": "A", "p2": "A", "p3": "B", "p4": "B"}
    answer = {"p1": "x", "p2": None, "p3": "y"}  # p4 forgotten
    assert scorers.coverage(answer, labels).value == 0.5
    v = scorers.unassigned_share(answer, labels)
    assert v.details["unassigned_share"] == 0.5 and v.value == 0.5


# Known values: scikit-learn's documentation of adjusted_rand_score and
# normalized_mutual_info_score (and the textbook formulas for the hand-worked ones).
@pytest.mark.parametrize("true, pred, expected", [
    ([0, 0, 1, 1], [0, 0, 1, 1], 1.0),
    ([0, 0, 1, 1], [1, 1, 0, 0], 1.0),
    ([0, 0, 1, 2], [0, 0, 1, 1], 0.5714285714285715),
    ([0, 0, 1, 1], [0, 0, 1, 2], 0.5714285714285715),
    ([0, 0, 0, 0], [0, 1, 2, 3], 0.0),
    ([0, 0, 1, 1], [0, 1, 0, 1], -0.5),
])
def test_adjusted_rand_index_matches_known_values(true, pred, expected):
    assert adjusted_rand_index(true, pred) == pytest.approx(expected)


@pytest.mark.parametrize("true, pred, expected", [
    ([0, 0, 1, 1], [0, 0, 1, 1], 1.0),
    ([0, 0, 1, 1], [1, 1, 0, 0], 1.0),
    ([0, 0, 0, 0], [0, 1, 2, 3], 0.0),
    # H(true)=ln 2, H(pred)=1.5 ln 2, MI=ln 2: 2/(1+1.5) = 0.8
    ([0, 0, 1, 1], [0, 0, 1, 2], 0.8),
    ([0, 0, 1, 1], [0, 1, 0, 1], 0.0),
])
def test_normalized_mutual_info_matches_known_values(true, pred, expected):
    assert normalized_mutual_info(true, pred) == pytest.approx(expected, abs=1e-12)


def test_ari_and_nmi_scorers_treat_unassigned_items_as_their_own_label():
    labels = {"p1": "A", "p2": "A", "p3": "B", "p4": "B"}
    perfect = {"p1": "s1", "p2": "s1", "p3": "s2", "p4": "s2"}
    assert scorers.ari(perfect, labels).value == 1.0 and scorers.nmi(perfect, labels).value == 1.0
    half = {"p1": "s1", "p2": None, "p3": "s2", "p4": None}
    # (none) groups p2 with p4 across the true labels: ARI = (0 - 1/3) / (3/2 - 1/3) = -2/7
    assert scorers.ari(half, labels).details["ari"] == pytest.approx(-2 / 7)
    assert scorers.ari(half, labels).value == 0.0  # clipped into 0..1, the raw value kept


def test_a_scorer_with_a_field_scores_that_key_and_survives_missing_answers():
    s = Scorer("sub", scorers.exact_match, field="subcategory")
    assert s({"subcategory": "LED Bulbs"}, {"subcategory": "led bulbs"}).value == 1.0
    assert s("not a dict", {"subcategory": "LED Bulbs"}).value == 0.0


def test_fields_match_scores_each_expected_attribute():
    v = scorers.fields_match({"Wattage": 9.05, "Colors": ["b", "a"], "Dimmable": True, "Name": "X"},
                             {"Wattage": 9, "Colors": ["a", "b"], "Dimmable": False})
    assert v.value == pytest.approx(2 / 3) and list(v.details["wrong"]) == ["Dimmable"]
