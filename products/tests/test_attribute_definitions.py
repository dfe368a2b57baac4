from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from products.models import AttributeDefinition, AttributeType


def definition(type_, **kwargs) -> AttributeDefinition:
    return AttributeDefinition(name="attr", type=type_, **kwargs)


@pytest.mark.parametrize(
    "value, cleaned",
    [(600, 600), (2.5, 2.5), (Decimal("9.50"), 9.5), ("600", 600), (" 600 W ", 600), ("600w", 600), ("-18", -18), ("1e3", 1000)],
)
def test_number_accepts_numbers_and_numeric_text(value, cleaned):
    ok, result, error = definition(AttributeType.NUMBER, unit="W").validate_value(value)
    assert (ok, result, error) == (True, cleaned, "")
    assert type(result) is type(cleaned)


@pytest.mark.parametrize("value", [True, "six hundred", "600 lm", "NaN", "inf", [600], {"v": 1}, "1e20"])
def test_number_rejects_what_is_not_a_number_in_its_unit(value):
    ok, result, error = definition(AttributeType.NUMBER, unit="W").validate_value(value)
    assert not ok and result is None and error


@pytest.mark.parametrize("value, cleaned", [(True, True), (False, False), ("yes", True), ("No", False), ("1", True), (0, False), (" TRUE ", True)])
def test_boolean_accepts_true_false_and_yes_no(value, cleaned):
    assert definition(AttributeType.BOOLEAN).validate_value(value) == (True, cleaned, "")


@pytest.mark.parametrize("value", ["maybe", 2, 1.0, ["yes"]])
def test_boolean_rejects_anything_else(value):
    ok, _, error = definition(AttributeType.BOOLEAN).validate_value(value)
    assert not ok and "yes or no" in error


def test_one_of_returns_the_allowed_spelling():
    d = definition(AttributeType.ONE_OF, allowed_values=["Wi-Fi", "Zigbee"])
    assert d.validate_value("wi-fi") == (True, "Wi-Fi", "")


@pytest.mark.parametrize("value", ["Bluetooth", 3, ["Wi-Fi"]])
def test_one_of_rejects_values_not_in_the_list(value):
    ok, _, error = definition(AttributeType.ONE_OF, allowed_values=["Wi-Fi", "Zigbee"]).validate_value(value)
    assert not ok
    assert "must be one of Wi-Fi, Zigbee" in error


@pytest.mark.parametrize(
    "value, cleaned",
    [(["led", "CFL"], ["LED", "CFL"]), (("Halogen",), ["Halogen"]), ("LED, halogen", ["LED", "Halogen"]), (["LED", "led"], ["LED"])],
)
def test_many_of_accepts_lists_and_comma_separated_text(value, cleaned):
    d = definition(AttributeType.MANY_OF, allowed_values=["LED", "CFL", "Halogen"])
    assert d.validate_value(value) == (True, cleaned, "")


def test_many_of_names_the_values_not_allowed():
    d = definition(AttributeType.MANY_OF, allowed_values=["LED", "CFL"])
    ok, _, error = d.validate_value(["LED", "Neon", 5])
    assert not ok
    assert "'Neon'" in error and "5" in error


def test_many_of_rejects_a_non_list():
    ok, _, _ = definition(AttributeType.MANY_OF, allowed_values=["LED"]).validate_value(5)
    assert not ok


def test_text_is_stripped_and_must_be_a_string():
    d = definition(AttributeType.TEXT)
    assert d.validate_value("  71–121 cm ") == (True, "71–121 cm", "")
    assert d.validate_value(42)[0] is False


@pytest.mark.parametrize("type_", [t.value for t in AttributeType])
@pytest.mark.parametrize("missing", [None, "", []])
def test_a_missing_value_is_an_error_only_when_required(type_, missing):
    kwargs = {"allowed_values": ["A"]} if type_ in ("one_of", "many_of") else {}
    assert definition(type_, **kwargs).validate_value(missing) == (True, None, "")
    assert definition(type_, required=True, **kwargs).validate_value(missing) == (False, None, "is required")


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"type": "one_of", "allowed_values": []}, "allowed_values"),
        ({"type": "many_of", "allowed_values": ["A", "a"]}, "allowed_values"),
        ({"type": "one_of", "allowed_values": "A,B"}, "allowed_values"),
        ({"type": "text", "allowed_values": ["A"]}, "allowed_values"),
        ({"type": "boolean", "unit": "W"}, "unit"),
    ],
)
def test_clean_rejects_inconsistent_definitions(kwargs, field):
    with pytest.raises(ValidationError) as exc:
        AttributeDefinition(name="attr", **kwargs).clean()
    assert field in exc.value.message_dict


def test_display_formats_values_for_people():
    assert definition(AttributeType.NUMBER, unit="W").display(600) == "600 W"
    assert definition(AttributeType.BOOLEAN).display(False) == "No"
    assert definition(AttributeType.MANY_OF, allowed_values=["A", "B"]).display(["A", "B"]) == "A, B"
