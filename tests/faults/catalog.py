"""A small product catalog for the bulk generation runs (the products app's test fixtures, as a function)."""

from products.models import AttributeDefinition, AttributeType, Category, Subcategory


def dimmer_catalog() -> Subcategory:
    lighting = Category.objects.create(name="Lighting & Electrical")
    dimmers = Subcategory.objects.create(category=lighting, name="Dimmer Switches")
    make = AttributeDefinition.objects.create
    make(subcategory=dimmers, name="Max load", type=AttributeType.NUMBER, unit="W", required=True)
    make(subcategory=dimmers, name="Connectivity", type=AttributeType.ONE_OF, allowed_values=["None", "Wi-Fi", "Zigbee"])
    make(subcategory=dimmers, name="Neutral wire required", type=AttributeType.BOOLEAN)
    make(subcategory=dimmers, name="Compatible bulbs", type=AttributeType.MANY_OF,
         allowed_values=["LED", "CFL", "Halogen"])
    make(subcategory=dimmers, name="Model number", type=AttributeType.TEXT)
    return dimmers
