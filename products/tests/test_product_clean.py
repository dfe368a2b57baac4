import pytest
from django.core.exceptions import ValidationError

from products.models import Category, Product

pytestmark = pytest.mark.django_db


def test_it_cleans_attributes_against_the_subcategory(dimmers, dimmer_attributes):
    product = Product(
        title="Lumora SmartDim Pro 600W Wi-Fi Dimmer Switch",
        subcategory=dimmers,
        attributes={"Max load": "600 W", "Connectivity": "wi-fi", "Neutral wire required": "yes", "Compatible bulbs": ["led"]},
    )
    product.full_clean()
    assert product.category == dimmers.category
    assert product.attributes == {
        "Max load": 600,
        "Connectivity": "Wi-Fi",
        "Neutral wire required": True,
        "Compatible bulbs": ["LED"],
    }


def test_it_reports_every_bad_attribute(dimmers, dimmer_attributes):
    product = Product(title="Bad dimmer", subcategory=dimmers, attributes={"Connectivity": "Bluetooth", "Colour": "red"})
    with pytest.raises(ValidationError) as exc:
        product.full_clean()
    problems = " | ".join(exc.value.message_dict["attributes"])
    assert "Max load: is required" in problems
    assert "Connectivity: must be one of" in problems
    assert "Colour: is not an attribute of Dimmer Switches" in problems


def test_it_rejects_a_subcategory_from_another_category(dimmers, dimmer_attributes):
    kitchen = Category.objects.create(name="Kitchen")
    product = Product(title="Odd", category=kitchen, subcategory=dimmers, attributes={"Max load": 300})
    with pytest.raises(ValidationError) as exc:
        product.full_clean()
    assert "subcategory" in exc.value.message_dict


def test_products_without_external_id_do_not_collide(db):
    Product.objects.create(title="One", external_id="")
    Product.objects.create(title="Two", external_id=None)
    assert Product.objects.filter(external_id__isnull=True).count() == 2


def test_category_slugs_stay_unique(db):
    first = Category.objects.create(name="Bath & Body")
    second = Category.objects.create(name="Bath Body")
    assert (first.slug, second.slug) == ("bath-body", "bath-body-2")
