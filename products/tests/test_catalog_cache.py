"""The category and attribute lists quoted in prompts are cached and cleared when the catalog changes."""

import pytest

from products import catalog
from products.models import AttributeDefinition, AttributeType, Subcategory

pytestmark = pytest.mark.django_db


def test_the_outline_is_served_from_the_cache(dimmers, django_assert_num_queries):
    first = catalog.outline()
    with django_assert_num_queries(0):
        assert catalog.outline() == first


def test_renaming_a_category_in_admin_clears_the_cache(dimmers, staff, client):
    catalog.outline()
    staff.is_superuser = True
    staff.save()
    client.force_login(staff)
    category = dimmers.category
    response = client.post(f"/admin/products/category/{category.pk}/change/", {
        "name": "Electrical", "slug": category.slug, "description": "",
        "subcategories-TOTAL_FORMS": "1", "subcategories-INITIAL_FORMS": "1",
        "subcategories-MIN_NUM_FORMS": "0", "subcategories-MAX_NUM_FORMS": "1000",
        "subcategories-0-id": dimmers.pk, "subcategories-0-category": category.pk,
        "subcategories-0-name": dimmers.name, "subcategories-0-description": "",
    })
    assert response.status_code == 302, response.content[:2000]
    assert catalog.outline()[0]["name"] == "Electrical"


def test_new_and_deleted_subcategories_and_attributes_show_up(dimmers, dimmer_attributes):
    assert len(catalog.attribute_rows(dimmers.pk)) == 5
    catalog.outline()
    plugs = Subcategory.objects.create(category=dimmers.category, name="Smart Plugs")
    assert [s["name"] for s in catalog.outline()[0]["subcategories"]] == ["Dimmer Switches", "Smart Plugs"]
    dimmer_attributes["Model number"].delete()
    assert [r["name"] for r in catalog.attribute_rows(dimmers.pk)][-1] == "Compatible bulbs"
    AttributeDefinition.objects.create(subcategory=plugs, name="Max current", type=AttributeType.NUMBER, unit="A")
    assert [d.name for d in catalog.definitions(plugs.pk)] == ["Max current"]
    plugs.delete()
    assert catalog.subcategory_info(plugs.pk) is None
