"""artifacts.faithfulness: the app's request for a note sent to the variant's model, graded by the
judge (shown the note) and by schema validity; run with ``manage.py eval run`` on the fake."""

import io
import json
import re

import pytest
from django.core.management import call_command

from artifacts.evals import cases_for_notes
from evals.importing import replace_cases
from evals.models import CaseResult, ResultQuery, Score
from evals.summary import judge_agreement
from llm.models import LLMQuery
from llm.testing.fake_provider import RecordedRequest, Reply, _request_texts

pytestmark = pytest.mark.django_db
HIGHLIGHT = re.compile(r"=== Highlighted text ===\n(.*?)\n=== end", re.S)
INVENTED = "The moon is made of cheese."


class NoteModel:
    """``faithful`` answers with the note's highlighted sentence; otherwise with an invented one.
    As the judge it grades 5 when every sentence of the answer is in the note it is shown, else 1."""

    def __init__(self, faithful: bool):
        self.faithful = faithful

    def __call__(self, request: RecordedRequest) -> Reply:
        _, prompt = _request_texts(request.route, request.body)
        name = ((request.body or {}).get("response_format") or {}).get("json_schema", {}).get("name", "")
        if prompt.startswith("Rubric:") and "<answer>" in prompt:  # the judge (on the default provider)
            note = re.search(r"<input>\n(.*?)\n</input>", prompt, re.S)[1]
            answer = re.search(r"<answer>\n(.*?)\n</answer>", prompt, re.S)[1]
            try:
                doc = json.loads(answer)
                claims = [c["back"] for c in doc["cards"]]
            except (ValueError, TypeError, KeyError):
                claims = [answer]
            ok = all(c.strip() in note for c in claims)
            return Reply(json={"score": 5 if ok else 1, "reason": "Supported." if ok else "Invented."})
        sentence = HIGHLIGHT.search(prompt)[1].strip() if self.faithful else INVENTED
        if name == "Flashcards":
            return Reply(json={"cards": [{"front": "What does the note stress?", "back": sentence}]})
        return Reply(text=sentence)


def _run(*args) -> tuple[int, dict]:
    out = io.StringIO()
    try:
        call_command("eval", "run", "artifacts.faithfulness", "--json", "--concurrency", "1",
                     "--variant", ":openai:gpt-4o-mini", *args, stdout=out)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, json.loads(out.getvalue().strip().splitlines()[-1])


def test_faithful_answers_score_1_and_invented_ones_0_and_fail_the_gate(fake, providers, note):
    replace_cases(name="artifacts.faithfulness", suite="artifacts.faithfulness", cases=cases_for_notes([note]))
    fake.set_default(NoteModel(faithful=True))
    code, good = _run("--fail-below", "0.8")
    assert code == 0 and good["score"] == 1.0 and good["cases"] == 2 and good["failed"] == 0, (good, list(CaseResult.objects.values_list("status", "error", "error_kind")))
    assert set(Score.objects.filter(scorer="schema_valid").values_list("value", flat=True)) == {1.0}
    judge_calls = LLMQuery.objects.filter(purpose="evals.judge")
    assert judge_calls.count() == 2
    assert ResultQuery.objects.filter(role="judge").count() == 2
    assert set(LLMQuery.objects.exclude(purpose="evals.judge").values_list("purpose", flat=True)) == {
        "artifacts.summary", "artifacts.flashcards"}
    fake.set_default(NoteModel(faithful=False))
    code, bad = _run("--fail-below", "0.8", "--no-cache")
    assert code == 1 and bad["score"] == 0.0
    assert {r.answer if isinstance(r.answer, str) else r.answer["cards"][0]["back"]
            for r in CaseResult.objects.filter(variant__experiment__id=CaseResult.objects.latest("id").variant.experiment_id)} == {INVENTED}


def test_a_flashcards_answer_of_the_wrong_shape_fails_schema_validity():
    from artifacts.evals import schema_valid

    assert schema_valid({"cards": []}, None, {"artifact_type": "flashcards"}).value == 0.0
    assert schema_valid({"cards": [{"front": "q", "back": "a"}]}, None, {"artifact_type": "flashcards"}).value == 1.0
    assert schema_valid("", None, {"artifact_type": "summary"}).value == 0.0


def test_the_judge_suite_reports_agreement_with_ratings(fake, providers, note, owner):
    from evals import human_score

    replace_cases(name="artifacts.faithfulness", suite="artifacts.faithfulness", cases=cases_for_notes([note]))
    assert judge_agreement("artifacts.faithfulness")["pairs"] == 0
    fake.set_default(NoteModel(faithful=True))
    _run()
    answer_calls = LLMQuery.objects.exclude(purpose="evals.judge").values_list("pk", flat=True)
    for q in answer_calls:  # a person agrees with the judge on both answers
        human_score(query_id=q, scorer="artifacts.rating", value=1.0, user=owner, subject=f"q:{q}")
    agreement = judge_agreement("artifacts.faithfulness")
    assert agreement["pairs"] == 2 and agreement["agreement"] == 1.0
