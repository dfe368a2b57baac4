"""Step 3: attribute values are checked against their definitions; invalid ones are re-asked once, then flagged."""

import pytest

from llm.testing.fake_provider import Reply
from products import generation
from products.generation import LLMOptions
from products.tests.fakes import ATTRIBUTES

pytestmark = pytest.mark.django_db

OPTIONS = LLMOptions(provider="openai", model="gpt-4o-mini")
TEXT = "Lumora Glide smart dimmer, 600 W, Wi-Fi, for LED and halogen bulbs, needs a neutral wire. Model LG-600."


def test_it_fills_the_attributes_with_checked_values(providers, fake, dimmers, dimmer_attributes):
    fake.script(Reply(json=ATTRIBUTES))
    mapping = generation.map_attributes(TEXT, dimmers.pk, OPTIONS)
    assert mapping.valid == {
        "Max load": 600, "Connectivity": "Wi-Fi", "Neutral wire required": True,
        "Compatible bulbs": ["LED", "Halogen"], "Model number": "LG-600",
    }
    assert mapping.invalid == {}
    schema = fake.requests[0].body["response_format"]["json_schema"]["schema"]
    assert set(schema["properties"]) == set(ATTRIBUTES)
    assert "Wi-Fi" in schema["properties"]["connectivity"]["description"]


def test_a_value_outside_the_allowed_set_is_rejected_and_re_asked(providers, fake, dimmers, dimmer_attributes):
    wrong = {**ATTRIBUTES, "connectivity": "Bluetooth", "compatible_bulbs": ["LED", "Neon"]}
    fake.script(Reply(json=wrong), Reply(json=ATTRIBUTES))
    mapping = generation.map_attributes(TEXT, dimmers.pk, OPTIONS)
    assert mapping.valid["Connectivity"] == "Wi-Fi" and mapping.valid["Compatible bulbs"] == ["LED", "Halogen"]
    assert mapping.invalid == {}
    retry = fake.requests[1].body["messages"][-1]["content"]
    assert "must be one of None, Wi-Fi, Zigbee; got 'Bluetooth'" in retry
    assert "'Neon'" in retry
    assert [c.status for c in mapping.calls] == ["rejected", "ok"]


def test_values_still_invalid_after_the_re_ask_are_flagged_not_kept(providers, fake, dimmers, dimmer_attributes):
    fake.set_default(Reply(json={**ATTRIBUTES, "connectivity": "Bluetooth"}))
    mapping = generation.map_attributes(TEXT, dimmers.pk, OPTIONS)
    assert len(fake.requests) == 2  # asked once more, not forever
    assert "Connectivity" not in mapping.valid
    flagged = mapping.invalid["Connectivity"]
    assert flagged.value == "Bluetooth" and "must be one of" in flagged.error
    assert mapping.valid["Max load"] == 600  # the good values stand


def test_a_missing_required_value_is_flagged_without_a_re_ask(providers, fake, dimmers, dimmer_attributes):
    fake.script(Reply(json={**ATTRIBUTES, "max_load": None}))
    mapping = generation.map_attributes(TEXT, dimmers.pk, OPTIONS)
    assert len(fake.requests) == 1
    assert mapping.invalid["Max load"].error == "is required"


def test_an_unknown_subcategory_is_refused_before_any_call(providers, fake, dimmers):
    with pytest.raises(generation.UnknownSubcategory, match="no subcategory with id 987654"):
        generation.map_attributes(TEXT, 987654, OPTIONS)
    assert fake.requests == []
