"""The results page stays small and cheap whatever the run's size: a page of segments (products
loaded per segment on demand), a page of changes, a summary of the calls and a page of them."""

import re

import pytest
from django.urls import reverse

from segmentation.tests.fakes import make_finished_run, make_products

pytestmark = pytest.mark.django_db

MAX_BYTES = 60_000


@pytest.fixture
def big_run(owner):
    return make_finished_run(owner, make_products(3000), segments=45, calls=400)


def test_the_page_of_a_big_run_is_small_and_makes_few_queries(owner_client, big_run, django_assert_max_num_queries):
    with django_assert_max_num_queries(14):
        page = owner_client.get(f"/segmentation/runs/{big_run.pk}/results/")
    assert page.status_code == 200
    assert len(page.content) < MAX_BYTES, len(page.content)
    body = page.content.decode()
    assert "Segment 1: dimmers of kind 0" in body and body.count("<details>") == 20  # 20 segments a page
    assert body.count('class="path"') == 25  # one page of calls
    assert "Latest failed calls" in body and f'{reverse("llm:calls")}?run_id={big_run.pk}' in body
    assert not re.search(r'href="/products/\d+/"', body)  # products load per segment, on demand


def test_a_finished_runs_fragments_come_from_the_cache(owner_client, big_run, django_assert_max_num_queries):
    url = f"/segmentation/runs/{big_run.pk}/results/"
    first = owner_client.get(url).content
    with django_assert_max_num_queries(8):  # session, user, run, the page of calls: the rest is cached
        again = owner_client.get(url).content
    # The same page; a form's CSRF token is masked anew on every request, so it is left out.
    token = re.compile(rb'name="csrfmiddlewaretoken" value="[^"]*"')
    assert token.sub(b"", again.split(b"<main")[1]) == token.sub(b"", first.split(b"<main")[1])


def test_segments_products_changes_and_calls_page(owner_client, big_run):
    base = f"/segmentation/runs/{big_run.pk}/results"
    segments = owner_client.get(f"{base}/segments/?page=3", HTTP_HX_REQUEST="true")
    assert segments.status_code == 200 and b"<html" not in segments.content
    assert b"Segment 41:" in segments.content and b"Segment 40:" not in segments.content
    taxon = big_run.taxonomies.order_by("-product_count").first()
    assert 50 < taxon.product_count <= 100
    products = owner_client.get(f"{base}/segments/{taxon.pk}/?page=2", HTTP_HX_REQUEST="true").content.decode()
    assert products.count("<li>") == taxon.product_count - 50 and "Page 2 of 2" in products
    without_js = owner_client.get(f"{base}/segments/{taxon.pk}/")
    assert b"<html" in without_js.content and b"/products/" in without_js.content
    changes = owner_client.get(f"{base}/changes/?page=2", HTTP_HX_REQUEST="true").content.decode()
    assert "150 products changed segment" in changes and "Page 2 of 3" in changes
    calls = owner_client.get(f"{base}/calls/?page=16", HTTP_HX_REQUEST="true").content.decode()
    assert calls.count('class="path"') == 25 and "Page 16 of 16" in calls


def test_an_outsider_gets_404_on_the_page_and_every_fragment(client, outsider, big_run):
    client.force_login(outsider)
    base = f"/segmentation/runs/{big_run.pk}/results"
    taxon = big_run.taxonomies.first()
    for url in (f"{base}/", f"{base}/segments/", f"{base}/segments/{taxon.pk}/", f"{base}/changes/", f"{base}/calls/"):
        assert client.get(url).status_code == 404, url


def test_a_segment_of_another_run_is_404(owner_client, owner, big_run):
    other = make_finished_run(owner, make_products(10), segments=2, calls=2)
    taxon = other.taxonomies.first()
    assert owner_client.get(f"/segmentation/runs/{big_run.pk}/results/segments/{taxon.pk}/").status_code == 404

