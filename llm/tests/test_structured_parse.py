"""JSON-schema validation of structured answers: the errors name where the answer is wrong, a bad
schema says so, and each distinct schema is checked against its metaschema once, not per answer."""

from llm.calls import structured

SCHEMA = {"type": "object", "properties": {"id": {"type": "integer", "enum": [1, 2, 3]}}, "required": ["id"],
          "additionalProperties": False}


def test_an_answer_is_validated_and_the_error_names_the_field():
    assert structured.parse('{"id": 2}', SCHEMA).value == {"id": 2}
    wrong = structured.parse('{"id": 7}', SCHEMA)
    assert not wrong.ok and wrong.error.startswith("At id: 7 is not one of [1, 2, 3]")
    assert structured.parse("{}", SCHEMA).error == "At (root): 'id' is a required property"


def test_an_invalid_schema_is_reported_as_such():
    assert structured.parse('{"id": 1}', {"type": "no-such-type"}).error.startswith("The schema itself is invalid")


def test_each_schema_is_checked_once():
    structured._validator.cache_clear()
    for _ in range(5):
        structured.parse('{"id": 1}', dict(SCHEMA))  # equal schemas, new dicts (as each call builds its own)
    info = structured._validator.cache_info()
    assert (info.misses, info.hits) == (1, 4)
