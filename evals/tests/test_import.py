import json

import pytest
from django.core.management import CommandError, call_command

from evals import importing
from evals.importing import ImportFailed
from evals.models import Case, Dataset

pytestmark = pytest.mark.django_db


def test_jsonl_import_stores_cases_with_keys_and_tags():
    text = "\n".join([
        json.dumps({"input": {"text": "a"}, "expected": {"subcategory": "X"}, "tags": ["t1"], "key": "k1"}),
        "",
        json.dumps({"input": "plain", "expected": "Y"}),
    ])
    report = importing.import_cases(text, "jsonl", name="demo.suite")
    assert report.created == 2 and str(report.dataset) == "demo.suite v1"
    cases = {c.key: c for c in Case.objects.all()}
    assert cases["k1"].input == {"text": "a"} and cases["k1"].tags == ["t1"]
    assert cases["line-3"].input == "plain" and cases["line-3"].expected == "Y"


def test_bad_jsonl_rows_are_reported_by_line_and_nothing_is_stored():
    text = "\n".join([
        json.dumps({"input": "ok"}),
        "{not json",
        json.dumps(["a list"]),
        json.dumps({"expected": "no input"}),
        json.dumps({"input": "x", "answer": "typo"}),
        json.dumps({"input": "x", "tags": "oops", "key": "t"}),
    ])
    with pytest.raises(ImportFailed) as info:
        importing.import_cases(text, "jsonl", name="demo.suite")
    errors = info.value.errors
    assert [e.split(":")[0] for e in errors] == ["line 2", "line 3", "line 4", "line 5"]
    assert "not valid JSON" in errors[0] and '"input" key is missing' in errors[2] and "answer" in errors[3]
    assert not Dataset.objects.exists() and not Case.objects.exists()


def test_csv_import_reads_json_cells_and_semicolon_tags():
    text = 'key,input,expected,tags\nc1,"{""text"": ""LED bulb""}","{""subcategory"": ""LED Bulbs""}",a;b\nc2,just text,,\n'
    importing.import_cases(text, "csv", name="demo.csv")
    c1, c2 = Case.objects.order_by("key")
    assert c1.input == {"text": "LED bulb"} and c1.expected == {"subcategory": "LED Bulbs"} and c1.tags == ["a", "b"]
    assert c2.input == "just text" and c2.expected is None


def test_csv_without_an_input_column_uses_the_other_columns_as_the_input():
    importing.import_cases("title,price,expected\nLamp,12.5,Lighting\n", "csv", name="demo.cols")
    case = Case.objects.get()
    assert case.input == {"title": "Lamp", "price": 12.5} and case.expected == "Lighting"


def test_csv_rows_with_the_wrong_cell_count_or_duplicate_keys_are_reported():
    text = "key,input,expected\na,x,1\nb,y\na,z,2\nc,,3\n"
    with pytest.raises(ImportFailed) as info:
        importing.import_cases(text, "csv", name="demo.bad")
    assert info.value.errors == [
        "line 3: 2 cells, but the header has 3 columns.",
        "line 5: the input cell is empty.",
        "line 4: key 'a' is also on line 2.",
    ]


def test_importing_the_same_keys_again_is_refused_unless_a_new_version(tmp_path):
    path = tmp_path / "cases.jsonl"
    path.write_text(json.dumps({"input": "x", "key": "k"}) + "\n")
    call_command("eval", "import", str(path), "--dataset", "demo.v")
    with pytest.raises(CommandError, match="Nothing imported"):
        call_command("eval", "import", str(path), "--dataset", "demo.v")
    call_command("eval", "import", str(path), "--dataset", "demo.v", "--new-version")
    assert list(Dataset.objects.values_list("version", flat=True).order_by("version")) == [1, 2]


def test_the_command_prints_each_bad_line(tmp_path, capsys):
    path = tmp_path / "cases.csv"
    path.write_text("key,input\na\n")
    with pytest.raises(CommandError):
        call_command("eval", "import", str(path), "--dataset", "demo.x")
    assert "cases.csv: line 2: 1 cells, but the header has 2 columns." in capsys.readouterr().err


@pytest.mark.django_db
def test_reseeding_a_shipped_dataset_keeps_the_cases_promoted_into_it():
    from evals import promote
    from evals.importing import replace_cases
    from evals.models import Dataset

    shipped = [{"key": "a", "input": {"text": "A"}, "expected": "x"}]
    replace_cases(name="tests.seeded", suite="tests.seeded", cases=shipped)
    promote(dataset="tests.seeded", input={"text": "real"}, expected="y", source="llm.LLMQuery:1")
    same = replace_cases(name="tests.seeded", suite="tests.seeded", cases=shipped)
    assert same.version == 1 and same.cases.count() == 2  # the promoted case does not make the shipped ones "changed"
    changed = replace_cases(name="tests.seeded", suite="tests.seeded", cases=shipped + [{"key": "b", "input": {"text": "B"}}])
    assert changed.version == 2
    assert sorted(changed.cases.values_list("key", flat=True)) == ["a", "b", "promoted:llm.LLMQuery:1"]
    assert Dataset.objects.get(name="tests.seeded", version=1).cases.count() == 2  # the old version keeps its cases
