import pytest

from products.models import AttributeDefinition, AttributeType, Category, Subcategory


@pytest.fixture
def dimmers(db):
    lighting = Category.objects.create(name="Lighting & Electrical")
    return Subcategory.objects.create(category=lighting, name="Dimmer Switches")


@pytest.fixture
def dimmer_attributes(dimmers):
    make = AttributeDefinition.objects.create
    return {
        "Max load": make(subcategory=dimmers, name="Max load", type=AttributeType.NUMBER, unit="W", required=True),
        "Connectivity": make(
            subcategory=dimmers, name="Connectivity", type=AttributeType.ONE_OF, allowed_values=["None", "Wi-Fi", "Zigbee"]
        ),
        "Neutral wire required": make(subcategory=dimmers, name="Neutral wire required", type=AttributeType.BOOLEAN),
        "Compatible bulbs": make(
            subcategory=dimmers, name="Compatible bulbs", type=AttributeType.MANY_OF, allowed_values=["LED", "CFL", "Halogen"]
        ),
        "Model number": make(subcategory=dimmers, name="Model number", type=AttributeType.TEXT),
    }
