import csv
import io

import pytest
from django.urls import reverse

from evals import export, runner
from evals.models import CaseResult, Experiment
from evals.testing import CatalogModel

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def finished(providers, fake, identify_dataset, owner):
    fake.set_default(CatalogModel("careless"))
    experiment = runner.create_experiment(
        suite="products.identify_category", owner=owner,
        variants=[runner.parse_variant("3:openai:gpt-4o-mini", _suite()), runner.parse_variant("4:openai:gpt-4o", _suite())],
    )
    # gpt-4o answers correctly, the mini model carelessly: the variants disagree.
    fake.set_default(lambda req: CatalogModel("correct" if req.body.get("model") == "gpt-4o" else "careless")(req))
    return runner.work(experiment.pk, concurrency=4)


def _suite():
    from evals import registry

    return registry.get("products.identify_category")


def test_the_experiment_page_shows_variants_side_by_side_with_the_chart_and_disagreements(client, owner, finished):
    client.force_login(owner)
    html = client.get(reverse("evals:experiment", args=[finished.pk])).content.decode()
    assert "v3:openai:gpt-4o-mini" in html and "v4:openai:gpt-4o" in html
    assert 'data-points="cost-score-data"' in html and 'id="cost-score-data"' in html
    assert html.count('class="disagreement"') == 25  # 55 disagree; the page shows the first 25
    assert "best trade-off" in html
    # No inline script, handler or style (the strict CSP).
    assert "<script>" not in html and " onclick=" not in html and ' style="' not in html and "hx-on" not in html


def test_the_experiment_page_names_each_variants_prompt_template_and_version(client, owner, finished):
    import re

    client.force_login(owner)
    html = client.get(reverse("evals:experiment", args=[finished.pk])).content.decode()
    assert '<th scope="col">Prompt template</th>' in html
    rows = re.findall(r'<th scope="row">(v\d:openai:[\w.-]+)[^<]*(?:<span[^>]*>[^<]*</span>)?</th>\s*'
                      r'<td class="prompt-template">(.*?)</td>', html)
    assert rows == [("v3:openai:gpt-4o-mini", "<code>identify_category</code> v3"),
                    ("v4:openai:gpt-4o", "<code>identify_category</code> v4")]


def test_others_cannot_see_an_experiment(client, outsider, finished):
    client.force_login(outsider)
    assert client.get(reverse("evals:experiment", args=[finished.pk])).status_code == 404
    assert client.get(reverse("evals:experiment-csv", args=[finished.pk])).status_code == 404


def test_progress_polls_while_running_and_stops_when_done(client, owner, finished):
    client.force_login(owner)
    url = reverse("evals:experiment-progress", args=[finished.pk])
    ended = client.get(url).content.decode()
    assert "hx-trigger" not in ended and "Reload for the final figures" in ended  # the polled page is stale
    page = client.get(reverse("evals:experiment", args=[finished.pk])).content.decode()
    assert "Reload for the final figures" not in page  # a page loaded after the end is not
    Experiment.objects.filter(pk=finished.pk).update(status="running")
    html = client.get(url).content.decode()
    assert 'hx-trigger="every 2s"' in html and "120 of 120 answers" in html


def test_csv_export_has_a_row_per_answer_and_defuses_formulas(client, owner, finished):
    case = CaseResult.objects.filter(variant__experiment=finished).select_related("case").first().case
    case.key = "=HYPERLINK(\"http://evil\")"
    case.save()
    client.force_login(owner)
    response = client.get(reverse("evals:experiment-csv", args=[finished.pk]))
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode() if response.streaming else response.content.decode())))
    assert rows[0][:4] == ["experiment", "variant", "case", "status"] and len(rows) == 121
    assert any(r[2] == "'=HYPERLINK(\"http://evil\")" for r in rows[1:])


@pytest.mark.parametrize("cell, expected", [("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@SUM(A1)", "'@SUM(A1)"),
                                            ("\tx", "'\tx"), ("\rx", "'\rx"), ("ok", "ok"), (None, ""), (-1.5, "'-1.5")])
def test_safe_cell(cell, expected):
    assert export.safe_cell(cell) == expected


def test_starting_an_experiment_from_the_page_queues_it(client, owner, identify_dataset, celery_eager, providers, fake):
    fake.set_default(CatalogModel("correct"))
    client.force_login(owner)
    response = client.post(reverse("evals:experiments"), {"suite": "products.identify_category",
                                                          "variants": "3:openai:gpt-4o-mini\n4:openai:gpt-4o-mini",
                                                          "use_cache": "on"})
    experiment = Experiment.objects.get()
    assert response.status_code == 302 and experiment.status == "done" and experiment.variants.count() == 2


def test_a_bad_variant_line_is_shown_on_the_form(client, owner, identify_dataset):
    client.force_login(owner)
    html = client.post(reverse("evals:experiments"), {"suite": "products.identify_category", "variants": "x"}).content.decode()
    assert "TEMPLATE_VERSION:PROVIDER:MODEL" in html and not Experiment.objects.exists()
