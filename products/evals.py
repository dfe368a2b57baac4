"""The products app's evaluation suites (discovered by evals at start).

``products.identify_category`` and ``products.map_attributes`` run the wizard's own steps
(``generation``) on the demo catalog, whose products' categories and attributes are the labels.
A variant picks the prompt version (``products.identify_category`` version N, products/prompts/identify_category_v<N>.yaml), the
provider, the model and the temperature.
"""

from __future__ import annotations

import re

from evals import PromotionError, register
from evals.registry import Suite
from evals.scorers import Scorer, exact_match, fields_match

EVERY_NTH_DEMO_PRODUCT = 5  # 60 of the 300 demo products: all 12 subcategories, a cheap run


def _versions(name: str) -> list[int]:
    from .prompting import versions

    return versions(name)


def _options(ctx):
    from .generation import LLMOptions

    return LLMOptions(provider=ctx.provider, model=ctx.model, user=ctx.user, run_id=ctx.run_id,
                      fresh=not ctx.use_cache, batch=ctx.result_id, temperature=ctx.params.get("temperature"),
                      debug_records=False)  # the case records the calls' ids; nobody reads a debug panel


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


PRODUCT_BLOCK = re.compile(r'"""\n(.*?)\n"""', re.S)  # the product text, as both prompts quote it
MAP_SUBCATEGORY = re.compile(r'in the subcategory "(.+?)" \(category "(.+?)"\)')


def _session_of(query):
    """The wizard session whose step made this call (None: another caller, e.g. bulk generation)."""
    from .models import GenerationStepLog

    log = GenerationStepLog.objects.filter(query_id=query.pk).select_related("session__subcategory__category").first()
    return log.session if log is not None else None


def _product_text(call) -> str:
    session = _session_of(call.query)
    if session is not None and session.raw_input.strip():
        return session.raw_input
    found = PRODUCT_BLOCK.findall(call.prompt)
    if not found:
        raise PromotionError(f"Call #{call.query.pk}'s request has no product text to make a case from.")
    return found[-1]


def identify_input_from_call(call) -> dict:
    """A category-step call as a case: the product text it classified."""
    return {"text": _product_text(call)}


def map_input_from_call(call) -> dict:
    """An attribute-step call as a case: the product text and the subcategory it was mapped in."""
    found = MAP_SUBCATEGORY.search(call.prompt)
    if found:
        subcategory, category = found[1], found[2]
    else:
        session = _session_of(call.query)
        if session is None or session.subcategory is None:
            raise PromotionError(f"Call #{call.query.pk}'s request does not name the subcategory it mapped.")
        subcategory, category = session.subcategory.name, session.subcategory.category.name
    return {"text": _product_text(call), "category": category, "subcategory": subcategory}


register(Suite(
    name="products.identify_category",
    description="The wizard's category step on the demo catalog: is the chosen subcategory the labelled one?",
    run=run_identify,
    scorers=[Scorer("subcategory_exact", exact_match, field="subcategory"),
             Scorer("category_exact", exact_match, field="category")],
    template="identify_category", default_version=3, versions=lambda: _versions("identify_category"),
    build_cases=identify_cases,
    purposes=("products.identify_category",), input_from_call=identify_input_from_call,
))

register(Suite(
    name="products.map_attributes",
    description="The wizard's attribute step on the demo catalog: share of the labelled attribute values found.",
    run=run_map,
    scorers=[Scorer("attributes_match", fields_match)],
    template="map_attributes", default_version=1, versions=lambda: _versions("map_attributes"),
    build_cases=map_cases,
    purposes=("products.map_attributes",), input_from_call=map_input_from_call,
))
