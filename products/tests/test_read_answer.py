"""Each generation step reads an answer it is handed (a parsed answer or raw text such as a
downloaded batch answer) without calling a model."""

import json

import pytest

from products import catalog
from products.generation import GenerationError, attribute_keys, attributes, content, identify


def test_identify_reads_raw_text_and_checks_the_ids_against_the_database(catalog_ready):
    dimmers, knives = catalog_ready["dimmers"], catalog_ready["knives"]
    text = json.dumps({"category_id": dimmers.category_id, "subcategory_id": dimmers.pk, "confidence": 0.9,
                       "reason": "It  dims\nlights."})
    choice, problem = identify.read_answer(text)
    assert problem == "" and choice.subcategory_id == dimmers.pk and choice.reason == "It dims lights."

    mismatch = {"category_id": dimmers.category_id, "subcategory_id": knives.pk, "confidence": 0.5, "reason": "?"}
    choice, problem = identify.read_answer(json.dumps(mismatch))
    assert choice is None and f"is not the category of subcategory {knives.pk}" in problem

    choice, problem = identify.read_answer('{"category_id": "lighting"}')
    assert choice is None and problem.startswith("the answer does not fit the schema")


def test_attributes_reads_raw_text_and_flags_invalid_values(catalog_ready, dimmer_attributes):
    keys = attribute_keys(catalog.definitions(catalog_ready["dimmers"].pk))
    answer = {key: None for key in keys} | {"max_load": "600 W", "connectivity": "Bluetooth"}
    values = attributes.read_answer(json.dumps(answer), keys)
    assert values["Max load"].ok and values["Max load"].value == 600
    assert not values["Connectivity"].ok and values["Connectivity"].value == "Bluetooth"
    assert set(attributes.invalid(keys, values)) == {"connectivity"}


def test_content_reads_raw_text_and_refuses_what_does_not_fit():
    text = json.dumps({"title": "  Glide   dimmer ", "description": "Dims.", "bullet_points": ["a", " "],
                       "search_keywords": ["dimmer"]})
    generated = content.read_answer(text)
    assert generated.title == "Glide dimmer" and generated.bullet_points == ["a"] and generated.calls == []
    with pytest.raises(GenerationError, match="does not fit the generate schema"):
        content.read_answer(json.dumps({"title": "", "description": "x", "bullet_points": [], "search_keywords": []}))
