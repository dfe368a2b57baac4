"""Step 4 and saving: the content schema and the generated Product."""

import pytest
from django.core.exceptions import ValidationError

from llm.testing.fake_provider import Reply
from products import generation
from products.generation import LLMOptions
from products.models import Product
from products.tests.fakes import CONTENT

pytestmark = pytest.mark.django_db

OPTIONS = LLMOptions(provider="openai", model="gpt-4o-mini")


def test_it_writes_title_description_bullets_and_keywords_from_the_valid_attributes(providers, fake, dimmers, dimmer_attributes):
    fake.script(Reply(json=CONTENT))
    content = generation.generate_product("Glide dimmer 600 W", dimmers.pk, {"Max load": 600, "Connectivity": "Wi-Fi"}, OPTIONS)
    assert content.as_dict() == CONTENT
    prompt = fake.requests[0].body["messages"][-1]["content"]
    assert "- Max load: 600 W" in prompt and "- Connectivity: Wi-Fi" in prompt
    assert fake.requests[0].body["response_format"]["json_schema"]["name"] == "ProductContent"


def test_an_empty_title_is_re_asked(providers, fake, dimmers, dimmer_attributes):
    fake.script(Reply(json={**CONTENT, "title": "  "}), Reply(json=CONTENT))
    content = generation.generate_product("Glide dimmer", dimmers.pk, {}, OPTIONS)
    assert content.title == CONTENT["title"] and len(fake.requests) == 2


def test_save_product_creates_a_generated_product(dimmers, dimmer_attributes):
    product = generation.save_product(
        subcategory_id=dimmers.pk, title="Glide", description="Dims.", bullet_points=["a"], search_keywords=["k"],
        attributes={"Max load": 600},
    )
    product.refresh_from_db()
    assert product.source == Product.Source.GENERATED and product.category_id == dimmers.category_id
    assert product.bullet_points == ["a"] and product.attributes == {"Max load": 600}


def test_save_product_refuses_invalid_attributes(dimmers, dimmer_attributes):
    with pytest.raises(ValidationError):
        generation.save_product(
            subcategory_id=dimmers.pk, title="Glide", description="", bullet_points=[], search_keywords=[],
            attributes={"Max load": 600, "Connectivity": "Bluetooth"},
        )
    assert not Product.objects.exists()
