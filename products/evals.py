"""The products app's evaluation suites (discovered by evals at start).

``products.identify_category`` and ``products.map_attributes`` run the wizard's own steps
(``generation``) on the demo catalog, whose products' categories and attributes are the labels.
A variant picks the prompt version (``products.identify_category`` version N, products/prompts/identify_category_v<N>.yaml), the
provider, the model and the temperature.
"""

from __future__ import annotations

from evals import register
from evals.registry import Suite
from evals.scorers import Scorer, exact_match, fields_match

EVERY_NTH_DEMO_PRODUCT = 5  # 60 of the 300 demo products: all 12 subcategories, a cheap run


def _versions(name: str) -> list[int]:
    from .prompting import versions

    return versions(name)


def _options(ctx):
    from .generation import LLMOptions

    return LLMOptions(provider=ctx.provider, model=ctx.model, user=ctx.user, run_id=ctx.run_id,
                      fresh=not ctx.use_cache, batch=ctx.result_id, temperature=ctx.params.get("temperature"))


def _recorded(ctx, fn):
    """Run a generation step, recording its calls for the case whether it succeeds or not."""
    from .generation import GenerationError, WaitingForManualAnswer

    try:
        result = fn()
    except (GenerationError, WaitingForManualAnswer) as exc:
        ctx.record(*[c.query_id for c in exc.calls])
        raise
    ctx.record(*[c.query_id for c in result.calls])
    return result


def run_identify(case_input: dict, ctx) -> dict:
    from . import generation, prompting

    version = ctx.template_version or prompting.split_key(generation.IDENTIFY_TEMPLATE)[1]
    choice = _recorded(ctx, lambda: generation.identify_category(
        case_input["text"], _options(ctx), template_name=f"identify_category_v{version}"))
    return {"category": choice.category_name, "subcategory": choice.subcategory_name,
            "confidence": choice.confidence}


def run_map(case_input: dict, ctx) -> dict:
    from . import generation
    from .models import Subcategory

    sub = Subcategory.objects.filter(name=case_input["subcategory"], category__name=case_input["category"]).first()
    if sub is None:
        raise ValueError(f"The catalog has no subcategory {case_input['category']} › {case_input['subcategory']} "
                         "(run manage.py seed_demo).")
    mapping = _recorded(ctx, lambda: generation.map_attributes(case_input["text"], sub.pk, _options(ctx)))
    return mapping.valid


def _demo_products():
    from .demo import ID_PREFIX
    from .models import Product

    products = (Product.objects.filter(external_id__startswith=ID_PREFIX, subcategory__isnull=False)
                .select_related("subcategory__category").order_by("external_id"))
    return [p for i, p in enumerate(products) if i % EVERY_NTH_DEMO_PRODUCT == 0]


def _text(product) -> str:
    return f"{product.title}\n{product.description}"


def identify_cases() -> list[dict]:
    return [
        {"key": p.external_id, "input": {"text": _text(p)},
         "expected": {"category": p.subcategory.category.name, "subcategory": p.subcategory.name},
         "tags": [p.subcategory.category.name]}
        for p in _demo_products()
    ]


def map_cases() -> list[dict]:
    return [
        {"key": p.external_id,
         "input": {"text": _text(p), "category": p.subcategory.category.name, "subcategory": p.subcategory.name},
         "expected": p.attributes, "tags": [p.subcategory.name]}
        for p in _demo_products() if p.attributes
    ]


register(Suite(
    name="products.identify_category",
    description="The wizard's category step on the demo catalog: is the chosen subcategory the labelled one?",
    run=run_identify,
    scorers=[Scorer("subcategory_exact", exact_match, field="subcategory"),
             Scorer("category_exact", exact_match, field="category")],
    template="identify_category", default_version=3, versions=lambda: _versions("identify_category"),
    build_cases=identify_cases,
))

register(Suite(
    name="products.map_attributes",
    description="The wizard's attribute step on the demo catalog: share of the labelled attribute values found.",
    run=run_map,
    scorers=[Scorer("attributes_match", fields_match)],
    template="map_attributes", default_version=1, versions=lambda: _versions("map_attributes"),
    build_cases=map_cases,
))
