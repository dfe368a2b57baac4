import pytest
from django.urls import reverse

from products.models import AttributeDefinition, Category, Product, Subcategory

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalog(dimmers, dimmer_attributes):
    kitchen = Category.objects.create(name="Kitchen")
    knives = Subcategory.objects.create(category=kitchen, name="Chef's Knives")
    AttributeDefinition.objects.create(subcategory=knives, name="Blade length", type="number", unit="in")
    make = Product.objects.create
    return {
        "dimmer": make(title="Lumora Glide 600W Dimmer", brand="Lumora", category=dimmers.category, subcategory=dimmers,
                       attributes={"Max load": 600, "Neutral wire required": False, "Compatible bulbs": ["LED", "CFL"]},
                       source="demo", price="24.99"),
        "plug": make(title="Voltaro Mini Smart Plug", brand="Voltaro", category=dimmers.category, source="imported"),
        "knife": make(title="Kitaro Forge 8\" Gyuto Knife", brand="Kitaro", category=kitchen, subcategory=knives,
                      attributes={"Blade length": 8}, source="generated"),
    }


def titles(response):
    return sorted(p.title for p in response.context["products"])


def test_the_list_shows_all_products_without_filters(owner_client, catalog):
    response = owner_client.get(reverse("products:list"))
    assert response.status_code == 200
    assert len(titles(response)) == 3


def test_the_list_filters_by_category_subcategory_brand_and_source(owner_client, catalog):
    url = reverse("products:list")
    lighting = catalog["dimmer"].category
    assert titles(owner_client.get(url, {"category": lighting.pk})) == ["Lumora Glide 600W Dimmer", "Voltaro Mini Smart Plug"]
    assert titles(owner_client.get(url, {"subcategory": catalog["knife"].subcategory.pk})) == [catalog["knife"].title]
    assert titles(owner_client.get(url, {"brand": "Voltaro"})) == ["Voltaro Mini Smart Plug"]
    assert titles(owner_client.get(url, {"source": "generated"})) == [catalog["knife"].title]
    assert titles(owner_client.get(url, {"category": lighting.pk, "source": "demo"})) == ["Lumora Glide 600W Dimmer"]


def test_the_list_searches_titles(owner_client, catalog):
    assert titles(owner_client.get(reverse("products:list"), {"q": "smart plug"})) == ["Voltaro Mini Smart Plug"]


def test_an_unknown_filter_value_is_ignored_with_an_error_shown(owner_client, catalog):
    response = owner_client.get(reverse("products:list"), {"category": "999999", "brand": "Nope"})
    assert response.status_code == 200
    assert len(titles(response)) == 3
    assert "Select a valid choice" in response.content.decode()


def test_the_list_pages_by_50_and_keeps_the_filters(owner_client, dimmers):
    Product.objects.bulk_create(
        [Product(title=f"Dimmer {i:03d}", brand="Lumora", category=dimmers.category) for i in range(120)]
    )
    response = owner_client.get(reverse("products:list"), {"brand": "Lumora"})
    assert len(response.context["products"]) == 50
    assert response.context["page"].paginator.num_pages == 3
    assert "?brand=Lumora&amp;page=2" in response.content.decode()
    last = owner_client.get(reverse("products:list"), {"brand": "Lumora", "page": 3})
    assert len(last.context["products"]) == 20


def test_the_detail_page_shows_attributes_with_units(owner_client, catalog):
    response = owner_client.get(reverse("products:detail", args=[catalog["dimmer"].pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "600 W" in html
    assert "LED, CFL" in html
    assert "24.99" in html


def test_the_detail_page_of_a_missing_product_is_404(owner_client, db):
    assert owner_client.get(reverse("products:detail", args=[123456])).status_code == 404
