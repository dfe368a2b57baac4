"""``eval run`` on products.identify_category with the fake answering correctly and carelessly."""

import dataclasses
import json

import pytest
from django.core.management import call_command

from evals.models import CaseResult, Experiment, ResultQuery, Score
from evals.testing import CatalogModel
from llm.testing.fake_provider import Reply
from llm.models import LLMQuery

pytestmark = pytest.mark.django_db(transaction=True)


def run(capsys, *args):
    call_command("eval", "run", "products.identify_category", "--json", *args)
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


def test_correct_and_careless_models_score_as_expected_and_careless_fails_the_gate(providers, fake, identify_dataset, capsys):
    cases = identify_dataset.cases.count()
    assert cases == 60
    fake.set_default(CatalogModel("correct"))
    [good] = run(capsys, "--variant", "3:openai:gpt-4o-mini", "--fail-below", "0.9")
    assert good["score"] == 1.0 and good["cases"] == cases and good["failed"] == 0
    assert good["ci_low"] == good["ci_high"] == 1.0
    assert good["cost_usd"] > 0 and good["latency_p50_ms"] is not None

    fake.set_default(CatalogModel("careless"))
    with pytest.raises(SystemExit) as exit_info:
        run(capsys, "--variant", "3:openai:gpt-4o-mini", "--fail-below", "0.9", "--no-cache")
    assert exit_info.value.code == 1
    careless = Experiment.objects.order_by("-pk").first()
    scores = list(CaseResult.objects.filter(variant__experiment=careless).values_list("score", flat=True))
    # The first subcategory listed is right for its own 5 cases only.
    assert sum(scores) == 5 and len(scores) == cases


def test_every_call_is_a_logged_query_linked_to_its_case_and_variant(providers, fake, identify_dataset, capsys):
    fake.set_default(CatalogModel("correct"))
    [row] = run(capsys, "--variant", "3:openai:gpt-4o-mini")
    experiment = Experiment.objects.get()
    assert LLMQuery.objects.filter(run_id=experiment.run_id).count() == row["cases"] == row["calls"]
    link = ResultQuery.objects.select_related("query", "result").first()
    assert link.query.purpose == "products.identify_category" and link.query.batch == link.result.pk
    assert Score.objects.filter(result=link.result).count() == 2  # subcategory and category


def test_cached_answers_are_allowed_and_counted(providers, fake, identify_dataset, capsys):
    fake.set_default(CatalogModel("correct"))
    run(capsys, "--variant", "3:openai:gpt-4o-mini")
    [again] = run(capsys, "--variant", "3:openai:gpt-4o-mini")
    assert again["cache_hits"] == again["cases"] and again["cost_usd"] == 0.0 and again["score"] == 1.0


def test_two_prompt_versions_on_two_models_side_by_side(providers, fake, identify_dataset, capsys):
    fake.set_default(CatalogModel("correct"))
    rows = run(capsys, "--variant", "3:openai:gpt-4o-mini", "--variant", "4:openai:gpt-4o",
               "--variant", "v4:anthropic:claude-haiku-4-5", "--variant", "4:openai:gpt-4o-mini:temperature=0")
    assert [r["variant"] for r in rows] == ["v3:openai:gpt-4o-mini", "v4:openai:gpt-4o",
                                             "v4:anthropic:claude-haiku-4-5", "v4:openai:gpt-4o-mini (temperature=0.0)"]
    assert all(r["score"] == 1.0 for r in rows)
    seen = {(r.body.get("model"), r.body["messages"][0]["content"].split(" ")[0]) for r in fake.requests
            if r.route == "openai"}
    assert seen == {("gpt-4o-mini", "You"), ("gpt-4o", "Classify"), ("gpt-4o-mini", "Classify")}
    # All score 1.0, so only the cheapest (v4's shorter prompt on the mini model) is a best trade-off.
    cheapest = min(r["cost_usd"] for r in rows)
    assert [r["pareto"] for r in rows] == [r["cost_usd"] == cheapest for r in rows]
    assert rows[3]["pareto"] and rows[1]["cost_usd"] > rows[0]["cost_usd"]


def test_without_variant_it_runs_the_current_version_on_the_default_model(providers, fake, identify_dataset, capsys, settings):
    settings.LLM_DEFAULT_PROVIDER = "openai"
    fake.set_default(CatalogModel("correct"))
    [row] = run(capsys)
    assert row["variant"] == "v3:default:default" and row["score"] == 1.0


def test_a_bad_variant_says_what_to_write(providers, identify_dataset):
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="has no version 9"):
        call_command("eval", "run", "products.identify_category", "--variant", "9:openai:gpt-4o")
    with pytest.raises(CommandError, match="TEMPLATE_VERSION:PROVIDER:MODEL"):
        call_command("eval", "run", "products.identify_category", "--variant", "openai")


def test_failures_are_counted_by_kind(providers, fake, identify_dataset, capsys, settings):
    from llm.testing.fake_provider import Reply

    settings.LLM_MAX_ATTEMPTS = 1
    fake.set_default(Reply(status=400, error_message="bad request"))
    [row] = run(capsys, "--variant", "3:openai:gpt-4o-mini")
    assert row["failed"] == row["cases"] and row["score"] == 0.0
    assert list(row["failures"]) == ["rejected"] or list(row["failures"]) == ["error"], row["failures"]


def test_a_re_asked_case_counts_and_links_every_call(providers, fake, identify_dataset, capsys):
    """The products suites record only their calls' ids (no debug records): a case whose first
    answer named no existing subcategory still has both calls linked and priced."""

    seen = set()

    def first_wrong(request):  # the first answer for each product names no subcategory; the re-ask is right
        first = json.dumps(request.body.get("messages")[0])
        if first not in seen:
            seen.add(first)
            return Reply(json={"category_id": 999999, "subcategory_id": 999999, "confidence": 0.9, "reason": "x"})
        # The re-ask carries the first request and the retry prompt: answer the first one right.
        return CatalogModel("correct")(dataclasses.replace(request, body={**request.body, "messages": request.body["messages"][:1]}))

    fake.set_default(first_wrong)
    [row] = run(capsys, "--variant", "3:openai:gpt-4o-mini")
    assert row["score"] == 1.0 and row["failed"] == 0
    results = CaseResult.objects.filter(variant__experiment=Experiment.objects.get())
    assert set(results.values_list("calls", flat=True)) == {2}
    assert ResultQuery.objects.filter(result__in=results, role="answer").count() == 2 * results.count()
    assert LLMQuery.objects.count() == 2 * results.count()
