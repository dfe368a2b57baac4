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


@pytest.fixture
def knives(db):
    kitchen = Category.objects.create(name="Kitchen")
    knives = Subcategory.objects.create(category=kitchen, name="Chef's Knives")
    AttributeDefinition.objects.create(subcategory=knives, name="Blade length", type=AttributeType.NUMBER, unit="in")
    AttributeDefinition.objects.create(
        subcategory=knives, name="Style", type=AttributeType.ONE_OF, allowed_values=["Chef's", "Gyuto", "Santoku"]
    )
    return knives


@pytest.fixture
def catalog_ready(dimmers, dimmer_attributes, knives):
    return {"dimmers": dimmers, "knives": knives}


@pytest.fixture(autouse=True)
def _fresh_catalog_cache():
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def smart_fake(fake, providers):
    """A fake model that answers each step's schema (pass dicts to change the answers)."""
    from products.tests.fakes import SmartModel

    model = SmartModel()
    fake.set_default(model)
    return model
