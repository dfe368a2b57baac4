"""evals on llm's pages through llm.hooks (llm imports nothing of evals): the promote form on a
call's page for its owner only, and the quality column and suite links on the cost dashboard."""

import pytest
from django.urls import reverse

from evals import human_score
from evals.models import Case
from llm import complete

pytestmark = pytest.mark.django_db


def test_the_call_page_offers_promotion_to_the_calls_owner_only(client, providers, fake, owner, staff):
    q = complete(purpose="tests.echo", prompt="What is 2+2?", provider="openai", model="gpt-4o-mini", user=owner).query_id
    client.force_login(owner)
    page = client.get(reverse("llm:call", args=[q])).content.decode()
    assert reverse("evals:promote-query", args=[q]) in page and 'value="tests.echo"' in page
    client.force_login(staff)  # staff may read anyone's call, but promoting it is the owner's choice
    page = client.get(reverse("llm:call", args=[q])).content.decode()
    assert reverse("evals:promote-query", args=[q]) not in page
    assert client.post(reverse("evals:promote-query", args=[q]), {"expected": "4"}).status_code == 404
    assert not Case.objects.exists()


def test_the_dashboard_shows_quality_per_purpose_and_model_with_n(client, providers, fake, owner, outsider):
    a = complete(purpose="artifacts.summary", prompt="1", provider="openai", model="gpt-4o", user=owner).query_id
    b = complete(purpose="artifacts.summary", prompt="2", provider="openai", model="gpt-4o", user=owner).query_id
    c = complete(purpose="artifacts.summary", prompt="3", provider="openai", model="gpt-4o-mini", user=owner).query_id
    mine_unscored = complete(purpose="artifacts.quiz", prompt="4", provider="openai", model="gpt-4o", user=owner).query_id
    theirs = complete(purpose="artifacts.summary", prompt="5", provider="openai", model="gpt-4o", user=outsider).query_id
    human_score(query_id=a, scorer="artifacts.rating", value=1.0, user=owner, subject="x:1")
    human_score(query_id=b, scorer="artifacts.rating", value=0.5, user=owner, subject="x:2")
    human_score(query_id=c, scorer="artifacts.rating", value=0.0, user=owner, subject="x:3")
    human_score(query_id=theirs, scorer="artifacts.rating", value=0.0, user=outsider, subject="x:4")
    assert mine_unscored
    client.force_login(owner)
    response = client.get(reverse("llm:dashboard"))
    rows = {(r["purpose"], r["model_name"]): r for r in response.context["quality_rows"]}
    assert rows[("artifacts.summary", "gpt-4o")]["quality"] == pytest.approx(0.75)  # the outsider's 0 is not mine
    assert rows[("artifacts.summary", "gpt-4o")]["quality_n"] == 2
    assert rows[("artifacts.summary", "gpt-4o-mini")]["quality"] == 0.0
    assert rows[("artifacts.quiz", "gpt-4o")]["quality"] is None and rows[("artifacts.quiz", "gpt-4o")]["quality_n"] == 0
    page = response.content.decode()
    assert 'id="quality"' in page and "0.750" in page
    assert reverse("evals:suite", args=["products.identify_category"]) in page
    # The dashboard's filters apply to the scored calls too.
    filtered = client.get(reverse("llm:dashboard"), {"model": "gpt-4o-mini"}).context["quality_rows"]
    assert [(r["model_name"], r["quality"]) for r in filtered] == [("gpt-4o-mini", 0.0)]


def test_llm_imports_nothing_of_evals():
    import pathlib

    import llm

    root = pathlib.Path(llm.__file__).parent
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.py")
                 if "import evals" in p.read_text() or "from evals" in p.read_text()]
    assert offenders == []
