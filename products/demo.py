"""A sample catalog for the demo (``manage.py seed_demo``), written by hand.

Four categories, twelve subcategories with their attribute definitions, and ~300 products
generated deterministically (``random.Random(42)``) from brand names, product lines and
features below, so every run produces the same products with the same external ids.
"""

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction

from .models import AttributeDefinition, AttributeType, Category, Product, Subcategory

T, N, B, ONE, MANY = (
    AttributeType.TEXT,
    AttributeType.NUMBER,
    AttributeType.BOOLEAN,
    AttributeType.ONE_OF,
    AttributeType.MANY_OF,
)
PRODUCTS_PER_SUBCATEGORY = 25
SEED = 42
ID_PREFIX = "DEMO-"


@dataclass(frozen=True)
class Attr:
    name: str
    type: str
    unit: str = ""
    allowed: tuple[str, ...] = ()
    required: bool = False
    # What the generator picks from: numbers, texts or booleans; one-of/many-of use ``allowed``.
    picks: tuple = ()


@dataclass(frozen=True)
class Sub:
    name: str
    description: str
    attributes: tuple[Attr, ...]
    lines: tuple[str, ...]
    prices: tuple[int, int]
    title: Callable[[str, str, dict], str]
    features: tuple[str, ...]
    # Adjusts generated values that depend on each other (lumens follow watts, ...).
    adjust: Callable[[dict, random.Random], None] | None = None


@dataclass(frozen=True)
class Cat:
    name: str
    description: str
    brands: tuple[str, ...]
    subcategories: tuple[Sub, ...] = field(default_factory=tuple)


def _opt(flag: bool, text: str) -> str:
    return text if flag else ""


# --- Lighting & Electrical -------------------------------------------------------------

DIMMERS = Sub(
    "Dimmer Switches",
    "Wall dimmers for LED and incandescent lighting, from basic rockers to smart models.",
    (
        Attr("Max load", N, unit="W", required=True, picks=(150, 250, 300, 450, 600, 1000)),
        Attr("Connectivity", ONE, allowed=("None", "Wi-Fi", "Zigbee", "Z-Wave", "Matter"), required=True),
        Attr("Wiring", ONE, allowed=("Single-Pole", "3-Way", "Single-Pole/3-Way")),
        Attr("Color", ONE, allowed=("White", "Ivory", "Light Almond", "Black")),
        Attr("Neutral wire required", B, picks=(True, False)),
        Attr("Compatible bulbs", MANY, allowed=("LED", "CFL", "Incandescent", "Halogen")),
    ),
    ("SmartDim Pro", "Glide", "Classic Rocker", "TouchLite"),
    (18, 70),
    lambda brand, line, a: (
        f"{brand} {line} {a['Max load']}W {_opt(a['Connectivity'] != 'None', a['Connectivity'] + ' ')}"
        f"Dimmer Switch, {a['Wiring']}, {a['Color']}"
    ),
    (
        "Flicker-free dimming down to 1% with modern LED bulbs.",
        "A low-end trim adjustment removes buzz and flicker on sensitive fixtures.",
        "Fits a standard decorator wall plate; the plate is included.",
        "Fade-on and fade-off make the light change easy on the eyes.",
        "The slim body leaves room in crowded wall boxes.",
    ),
)

SMART_PLUGS = Sub(
    "Smart Plugs",
    "Plug-in outlets switched from a phone, a voice assistant or a schedule.",
    (
        Attr("Protocol", ONE, allowed=("Wi-Fi", "Zigbee", "Matter", "Thread", "Bluetooth"), required=True),
        Attr("Max current", N, unit="A", picks=(10, 13, 15, 16)),
        Attr("Energy monitoring", B, picks=(True, False)),
        Attr("Works with", MANY, allowed=("Alexa", "Google Assistant", "Apple Home", "SmartThings")),
        Attr("Pack size", N, picks=(1, 2, 4)),
    ),
    ("PlugMate", "Mini", "Outlet One", "Volt Duo"),
    (12, 45),
    lambda brand, line, a: (
        f"{brand} {line} {a['Protocol']} Smart Plug{_opt(a['Energy monitoring'], ' with Energy Monitoring')}, "
        f"{a['Max current']}A{_opt(a['Pack size'] > 1, ', ' + str(a['Pack size']) + '-Pack')}"
    ),
    (
        "Schedules and away mode run on the plug itself, even when the internet is down.",
        "A compact body leaves the second outlet of a duplex receptacle free.",
        "Setup takes under two minutes in the companion app.",
        "A physical button switches it by hand and resets it.",
        "Over-temperature protection cuts power before the plug overheats.",
    ),
)


def _bulb_lumens(a: dict, rng: random.Random) -> None:
    a["Lumens"] = {5: 450, 6: 500, 9: 800, 11: 1100, 15: 1600}[a["Wattage"]]


LED_BULBS = Sub(
    "LED Bulbs",
    "Energy-saving LED replacements for incandescent and halogen bulbs.",
    (
        Attr("Wattage", N, unit="W", required=True, picks=(5, 6, 9, 11, 15)),
        Attr("Lumens", N, unit="lm", picks=(800,)),
        Attr("Base", ONE, allowed=("E26", "E12", "E27", "GU10", "B22"), required=True),
        Attr("Color temperature", N, unit="K", picks=(2700, 3000, 4000, 5000)),
        Attr("Dimmable", B, picks=(True, True, False)),
        Attr("Shape", ONE, allowed=("A19", "BR30", "PAR38", "G25", "Candle")),
    ),
    ("EverGlow", "Daylight Plus", "SoftWhite", "Filament Classic"),
    (4, 30),
    lambda brand, line, a: (
        f"{brand} {line} {a['Shape']} LED Bulb, {a['Wattage']}W ({a['Lumens']} lm), "
        f"{a['Color temperature']}K, {'Dimmable' if a['Dimmable'] else 'Non-Dimmable'}, {a['Base']} Base"
    ),
    (
        "Rated for 25,000 hours, more than 20 years at three hours a day.",
        "A color rendering index above 90 keeps skin tones and food looking natural.",
        "Reaches full brightness instantly, even in the cold.",
        "Uses about 85% less energy than the incandescent bulb it replaces.",
    ),
    adjust=_bulb_lumens,
)

# --- Kitchen ---------------------------------------------------------------------------


def _coffee_capacity(a: dict, rng: random.Random) -> None:
    if a["Brew type"] in ("Espresso", "Single-Serve"):
        a["Capacity"] = rng.choice((1, 2))
        a["Carafe"] = "None"
    elif a["Carafe"] == "None":
        a["Carafe"] = "Glass"


COFFEE_MAKERS = Sub(
    "Coffee Makers",
    "Drip brewers, single-serve machines and espresso makers.",
    (
        Attr("Brew type", ONE, allowed=("Drip", "Single-Serve", "Espresso", "Pour-Over", "Cold Brew"), required=True),
        Attr("Capacity", N, unit="cups", picks=(4, 5, 8, 10, 12, 14)),
        Attr("Carafe", ONE, allowed=("Glass", "Thermal", "None")),
        Attr("Programmable", B, picks=(True, False)),
        Attr("Features", MANY, allowed=("Auto Shut-Off", "Brew Strength Control", "Built-in Grinder", "Milk Frother", "Pause and Serve")),
        Attr("Power", N, unit="W", picks=(900, 1000, 1100, 1450)),
    ),
    ("BrewMaster", "Morning Ritual", "Barista Compact", "Café Select"),
    (35, 420),
    lambda brand, line, a: (
        f"{brand} {line} {a['Capacity']}-Cup {_opt(a['Programmable'], 'Programmable ')}{a['Brew type']} Coffee Maker"
        f"{_opt(a['Carafe'] != 'None', ' with ' + a['Carafe'] + ' Carafe')}"
    ),
    (
        "Brews at 92–96 °C, the range baristas recommend for full extraction.",
        "The removable water tank fills at the sink.",
        "A 24-hour timer has coffee ready when you wake up.",
        "Every part that touches coffee is BPA-free.",
        "The reusable filter saves buying paper filters.",
    ),
    adjust=_coffee_capacity,
)

KNIVES = Sub(
    "Chef's Knives",
    "Chef's knives, santokus and Japanese-style kitchen knives.",
    (
        Attr("Style", ONE, allowed=("Chef's", "Gyuto", "Santoku", "Nakiri", "Bunka"), required=True),
        Attr("Blade length", N, unit="in", picks=(6, 7, 8, 9.5, 10)),
        Attr("Steel", ONE, allowed=("German X50CrMoV15", "VG-10", "AUS-10", "SG2 Powder Steel", "High-Carbon Stainless")),
        Attr("Hardness", N, unit="HRC", picks=(56, 58, 60, 61, 62)),
        Attr("Handle material", ONE, allowed=("Pakkawood", "G-10", "Olive Wood", "Polypropylene", "Micarta")),
        Attr("Dishwasher safe", B, picks=(False, False, False, True)),
    ),
    ("Edge Classic", "Kiri Series", "Forge 67", "Hōchō Pro"),
    (29, 260),
    lambda brand, line, a: (
        f"{brand} {line} {a['Blade length']}\" {a['Style']} Knife, {a['Steel']}, {a['Handle material']} Handle"
    ),
    (
        "Hand-sharpened to a 15° angle per side for clean, thin cuts.",
        "A full tang balances the knife at the bolster.",
        "Ships with a blade guard and a care card.",
        "The thin spine glides through onions and hard squash alike.",
        "A lifetime warranty covers manufacturing defects.",
    ),
)

COOKWARE = Sub(
    "Cookware Sets",
    "Pots and pans sold as sets, in stainless steel, cast iron and nonstick.",
    (
        Attr("Pieces", N, required=True, picks=(3, 5, 8, 10, 12)),
        Attr("Material", ONE, allowed=("Tri-Ply Stainless", "Hard-Anodized Aluminum", "Cast Iron", "Carbon Steel", "Ceramic Nonstick"), required=True),
        Attr("Oven safe to", N, unit="°F", picks=(350, 400, 500, 600)),
        Attr("Induction compatible", B, picks=(True, False)),
        Attr("Lid material", T, picks=("Tempered glass", "Stainless steel", "No lids")),
    ),
    ("Heritage", "ProClad", "Everyday Nonstick", "Chef's Table"),
    (60, 600),
    lambda brand, line, a: (
        f"{brand} {line} {a['Pieces']}-Piece {a['Material']} Cookware Set, Oven-Safe to {a['Oven safe to']}°F"
        f"{_opt(a['Induction compatible'], ', Induction-Ready')}"
    ),
    (
        "Riveted handles stay cool on the stovetop.",
        "Flared rims pour without drips.",
        "An aluminum core spreads heat evenly to the edges.",
        "Measurement marks are etched inside the saucepans.",
    ),
)

# --- Outdoor ---------------------------------------------------------------------------


def _tent_weight(a: dict, rng: random.Random) -> None:
    a["Weight"] = round(0.6 + 0.55 * a["Capacity"] + (0.8 if a["Season"] == "4-Season" else 0), 1)


TENTS = Sub(
    "Tents",
    "Backpacking and camping tents from solo shelters to family domes.",
    (
        Attr("Capacity", N, unit="person", required=True, picks=(1, 2, 3, 4, 6)),
        Attr("Season", ONE, allowed=("3-Season", "3+ Season", "4-Season"), required=True),
        Attr("Weight", N, unit="kg", picks=(2,)),
        Attr("Freestanding", B, picks=(True, True, False)),
        Attr("Features", MANY, allowed=("Two Doors", "Two Vestibules", "Footprint Included", "Gear Loft", "Color-Coded Poles")),
    ),
    ("Ridgeline", "Summit Dome", "Trailhead UL", "Basecamp"),
    (90, 650),
    lambda brand, line, a: (
        f"{brand} {line} {a['Capacity']}-Person {a['Season']} Tent, {a['Weight']} kg"
        f"{_opt(a['Freestanding'], ', Freestanding')}"
    ),
    (
        "Fully taped seams and a 3,000 mm fly keep out sideways rain.",
        "Aluminum DAC poles are light and recover from strong gusts.",
        "Mesh walls cut condensation on still nights.",
        "Pitches in under five minutes, fly first if it is raining.",
        "Packs into a compression sack that fits the bottom of a pack.",
    ),
    adjust=_tent_weight,
)

SLEEPING_BAGS = Sub(
    "Sleeping Bags",
    "Down and synthetic sleeping bags and quilts.",
    (
        Attr("Temperature rating", N, unit="°C", required=True, picks=(-18, -9, -7, -1, 4, 10)),
        Attr("Fill", ONE, allowed=("650-Fill Down", "800-Fill Down", "850-Fill Down", "Synthetic"), required=True),
        Attr("Shape", ONE, allowed=("Mummy", "Semi-Rectangular", "Rectangular", "Quilt")),
        Attr("Weight", N, unit="g", picks=(680, 850, 1100, 1400, 1800)),
        Attr("Water-resistant shell", B, picks=(True, False)),
    ),
    ("Nightfall", "Alpine Loft", "Cocoon", "Trail Quilt"),
    (70, 520),
    lambda brand, line, a: (
        f"{brand} {line} {a['Temperature rating']}°C {a['Fill']} {a['Shape']} Sleeping Bag, {a['Weight']} g"
    ),
    (
        "A draft collar and zipper baffle hold the warmth in.",
        "The contoured hood cinches one-handed.",
        "Ships with a stuff sack and a breathable storage sack.",
        "Responsibly sourced down, certified to the RDS standard.",
    ),
)

HEADLAMPS = Sub(
    "Headlamps",
    "Hands-free lights for hiking, running and work.",
    (
        Attr("Max brightness", N, unit="lm", required=True, picks=(200, 350, 400, 600, 900, 1200)),
        Attr("Power source", ONE, allowed=("Rechargeable Li-ion", "3x AAA", "Hybrid Li-ion/AAA"), required=True),
        Attr("Water resistance", ONE, allowed=("IPX4", "IPX6", "IPX7", "IPX8")),
        Attr("Modes", MANY, allowed=("Spot", "Flood", "Red Light", "Strobe", "Reactive Lighting", "Lock Mode")),
        Attr("Weight", N, unit="g", picks=(45, 68, 86, 105)),
        Attr("USB-C charging", B, picks=(True, True, False)),
    ),
    ("Beam", "NightRunner", "Trail Pro", "Swift RL"),
    (20, 130),
    lambda brand, line, a: (
        f"{brand} {line} {a['Max brightness']} Lumen {a['Power source']} Headlamp, {a['Water resistance']}"
        f"{_opt('Red Light' in a['Modes'], ', Red Light')}"
    ),
    (
        "A tilting lamp body points the beam where you are looking.",
        "The lock mode keeps it from switching on in the pack.",
        "A battery gauge shows the remaining charge at a glance.",
        "The reflective headband makes you visible to traffic.",
    ),
)

# --- Office ----------------------------------------------------------------------------

CHAIRS = Sub(
    "Office Chairs",
    "Ergonomic task chairs for long days at the desk.",
    (
        Attr("Upholstery", ONE, allowed=("Mesh", "Fabric", "Leather", "Faux Leather"), required=True),
        Attr("Lumbar support", ONE, allowed=("Fixed", "Adjustable", "Dynamic", "None")),
        Attr("Armrests", ONE, allowed=("Fixed", "2D Adjustable", "3D Adjustable", "4D Adjustable")),
        Attr("Headrest", B, picks=(True, False)),
        Attr("Max user weight", N, unit="kg", picks=(120, 136, 150, 180)),
        Attr("Adjustments", MANY, allowed=("Seat Height", "Seat Depth", "Tilt Tension", "Tilt Lock", "Recline")),
    ),
    ("ErgoFlex", "Posture One", "Executive", "TaskLite"),
    (120, 1400),
    lambda brand, line, a: (
        f"{brand} {line} Ergonomic {a['Upholstery']} Office Chair"
        f"{_opt(a['Lumbar support'] != 'None', ' with ' + a['Lumbar support'] + ' Lumbar Support')}, "
        f"{a['Armrests']} Armrests{_opt(a['Headrest'], ', Headrest')}"
    ),
    (
        "A synchro-tilt mechanism keeps your feet on the floor as you recline.",
        "BIFMA-tested for 8-hour daily use.",
        "Casters roll quietly on hard floors and carpet.",
        "Tool-free assembly in about 15 minutes.",
        "A 12-year warranty covers the frame and mechanism.",
    ),
)

DESKS = Sub(
    "Standing Desks",
    "Electric sit-stand desks.",
    (
        Attr("Width", N, unit="cm", required=True, picks=(120, 140, 160, 180)),
        Attr("Depth", N, unit="cm", picks=(60, 70, 80)),
        Attr("Motors", ONE, allowed=("Single", "Dual"), required=True),
        Attr("Height range", T, picks=("71–121 cm", "62–127 cm", "64–129 cm", "60–125 cm")),
        Attr("Top material", ONE, allowed=("Laminate", "Bamboo", "Solid Oak", "Walnut Veneer")),
        Attr("Memory presets", B, picks=(True, True, False)),
    ),
    ("LiftDesk", "Stand Pro", "Atelier", "Flow"),
    (250, 1100),
    lambda brand, line, a: (
        f"{brand} {line} {a['Motors']}-Motor Electric Standing Desk, {a['Width']} x {a['Depth']} cm, "
        f"{a['Top material']} Top"
    ),
    (
        "Anti-collision sensing stops the desk when it meets an obstacle.",
        "Rises at 38 mm per second and runs at under 45 dB.",
        "The cross-bar-free frame leaves room for your knees.",
        "A cable tray hides the power strip and adapters.",
    ),
)

MONITOR_ARMS = Sub(
    "Monitor Arms",
    "Desk-mounted arms that hold one or more monitors.",
    (
        Attr("Screens", N, required=True, picks=(1, 1, 2, 2, 3)),
        Attr("Max screen size", N, unit="in", picks=(27, 32, 34, 49)),
        Attr("Max load per arm", N, unit="kg", picks=(6, 8, 9, 12, 20)),
        Attr("Mounting", MANY, allowed=("Clamp", "Grommet", "Wall", "Freestanding"), required=True),
        Attr("Gas spring", B, picks=(True, True, False)),
    ),
    ("ArmRise", "FlexMount", "Pivot Pro", "Studio Arm"),
    (35, 380),
    lambda brand, line, a: (
        f"{brand} {line} {({1: 'Single', 2: 'Dual', 3: 'Triple'})[a['Screens']]} Monitor Arm"
        f"{_opt(a['Gas spring'], ', Gas Spring')}, up to {a['Max screen size']}\" and {a['Max load per arm']} kg per Arm"
    ),
    (
        "Fits VESA 75 x 75 and 100 x 100 mounts.",
        "Internal cable channels keep the desk tidy.",
        "Tilts ±90°, swivels 180° and rotates to portrait.",
        "Tension adjusts with one hex key, included.",
    ),
)

CATALOG = (
    Cat(
        "Lighting & Electrical",
        "Switches, plugs and bulbs for the home.",
        ("Lumora", "Voltaro", "Brightwell", "Halden Electric"),
        (DIMMERS, SMART_PLUGS, LED_BULBS),
    ),
    Cat(
        "Kitchen",
        "Coffee, knives and cookware.",
        ("Copperleaf", "Messerhaus", "Kitaro", "Ovenbird"),
        (COFFEE_MAKERS, KNIVES, COOKWARE),
    ),
    Cat(
        "Outdoor",
        "Shelter, sleep and light for camping and hiking.",
        ("Northpine", "Granite Peak", "Tundra & Co.", "Lightfoot"),
        (TENTS, SLEEPING_BAGS, HEADLAMPS),
    ),
    Cat(
        "Office",
        "Ergonomic furniture for the workplace and home office.",
        ("Ergonom", "Deskwell", "Straightback", "Oakline Office"),
        (CHAIRS, DESKS, MONITOR_ARMS),
    ),
)


def _value(attr: Attr, rng: random.Random):
    if attr.type == ONE:
        return rng.choice(attr.allowed)
    if attr.type == MANY:
        chosen = set(rng.sample(attr.allowed, rng.randint(1, min(3, len(attr.allowed)))))
        return [value for value in attr.allowed if value in chosen]
    return rng.choice(attr.picks)


def generate_products(subcategories: dict[str, Subcategory]) -> list[Product]:
    """The demo products, always the same ones: ``subcategories`` maps names to saved rows."""
    rng = random.Random(SEED)
    products, n = [], 0
    for cat in CATALOG:
        for sub in cat.subcategories:
            subcategory = subcategories[sub.name]
            for _ in range(PRODUCTS_PER_SUBCATEGORY):
                n += 1
                brand, line = rng.choice(cat.brands), rng.choice(sub.lines)
                attributes = {attr.name: _value(attr, rng) for attr in sub.attributes}
                if sub.adjust:
                    sub.adjust(attributes, rng)
                title = sub.title(brand, line, attributes)
                features = " ".join(rng.sample(sub.features, 2))
                price = Decimal(rng.randint(*sub.prices)) + Decimal("0.99")
                products.append(
                    Product(
                        external_id=f"{ID_PREFIX}{n:05d}",
                        title=title,
                        description=f"The {brand} {line}: {sub.name.lower()} from {brand}'s {cat.name.lower()} range. {features}",
                        brand=brand,
                        price=price,
                        category_id=subcategory.category_id,
                        subcategory=subcategory,
                        attributes=attributes,
                        source=Product.Source.DEMO,
                    )
                )
    return products


@dataclass
class SeedResult:
    categories: int = 0
    subcategories: int = 0
    attribute_definitions: int = 0
    products: int = 0


@transaction.atomic
def seed_catalog() -> SeedResult:
    """Create whatever part of the sample catalog is missing; return how much was created."""
    result = SeedResult()
    subcategories: dict[str, Subcategory] = {}
    for cat in CATALOG:
        category, created = Category.objects.get_or_create(name=cat.name, defaults={"description": cat.description})
        result.categories += created
        for sub in cat.subcategories:
            subcategory, created = Subcategory.objects.get_or_create(
                category=category, name=sub.name, defaults={"description": sub.description}
            )
            result.subcategories += created
            subcategories[sub.name] = subcategory
            for attr in sub.attributes:
                _, created = AttributeDefinition.objects.get_or_create(
                    subcategory=subcategory,
                    name=attr.name,
                    defaults={
                        "type": attr.type,
                        "unit": attr.unit,
                        "allowed_values": list(attr.allowed),
                        "required": attr.required,
                    },
                )
                result.attribute_definitions += created
    existing = set(Product.objects.filter(external_id__startswith=ID_PREFIX).values_list("external_id", flat=True))
    missing = [p for p in generate_products(subcategories) if p.external_id not in existing]
    Product.objects.bulk_create(missing, batch_size=500)
    result.products = len(missing)
    return result
