"""A fake model that reads each prompt's ids (from the schema it is sent) and answers them."""

import re

from llm.testing.fake_provider import Reply

_PROVISIONAL = re.compile(r"^(P_\d+):.*provisional: (S_\d+|none)", re.M)
_T_LINE = re.compile(r"^(T_\d+): (.+?) - ", re.M)


def make_products(n: int, *, category: str = "Dimmer Switches") -> list[int]:
    # Imported here so the answering half of this module runs without Django (segmentation.bench
    # serves it from a separate process).
    from products.models import Category, Product

    cat, _ = Category.objects.get_or_create(name=category)
    kinds = ["Smart WiFi dimmer", "Rotary dimmer", "Slide dimmer", "Plug-in dimmer"]
    products = Product.objects.bulk_create(
        [Product(title=f"{kinds[i % 4]} model {i}", brand=f"Brand{i % 3}", description=f"A {kinds[i % 4].lower()}.",
                 category=cat) for i in range(n)]
    )
    return sorted(p.pk for p in products)


def _enum(schema, prop: str) -> list[str]:
    """The enum of property ``prop`` anywhere in the schema (also inside an array's items)."""
    if isinstance(schema, dict):
        node = (schema.get("properties") or {}).get(prop)
        if isinstance(node, dict):
            if "enum" in node:
                return node["enum"]
            if isinstance(node.get("items"), dict) and "enum" in node["items"]:
                return node["items"]["enum"]
        for value in schema.values():
            found = _enum(value, prop)
            if found:
                return found
    elif isinstance(schema, list):
        for value in schema:
            found = _enum(value, prop)
            if found:
                return found
    return []


def _text(content) -> str:
    """A message's text: a string, Anthropic's text blocks (split at a cache breakpoint) or Gemini's parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        content = content.get("parts") or []
    return "".join(b.get("text") or "" for b in content or [] if isinstance(b, dict))


def request_parts(req) -> tuple[str, dict, str]:
    """(schema name, JSON schema, first user message) of a structured request on any of the three
    wires: OpenAI's response_format, Anthropic's forced tool, Gemini's response_json_schema (which
    carries no name: the schema's title stands in)."""
    body = req.body or {}
    if getattr(req, "route", "openai") == "anthropic":
        tool = next(iter(body.get("tools") or []), {})
        first = next((m.get("content") for m in body.get("messages") or [] if m.get("role") == "user"), "")
        return tool.get("name", ""), tool.get("input_schema") or {}, _text(first)
    if getattr(req, "route", "openai") == "gemini":
        config = body.get("generationConfig") or body.get("generation_config") or {}
        schema = (config.get("responseJsonSchema") or config.get("response_json_schema")
                  or config.get("responseSchema") or {})
        first = next((c for c in body.get("contents") or [] if c.get("role", "user") == "user"), {})
        return str(schema.get("title") or ""), schema, _text(first)
    fmt = body.get("response_format") or {}
    js = fmt.get("json_schema") or {}
    messages = body.get("messages") or []
    first_user = next((m["content"] for m in messages if m["role"] == "user"), "")
    return js.get("name", ""), js.get("schema") or {}, first_user if isinstance(first_user, str) else _text(first_user)


def extract_kind(title_line: str) -> str:
    for word in ("Smart", "Rotary", "Slide", "Plug-in"):
        if word in title_line:
            return word
    return "Other"


def answer(name: str, schema: dict, prompt: str) -> dict:
    if name == "ExtractTaxonomyAnswer":
        ids = _enum(schema, "product_id")
        lines = {m.group(1): m.group(0) for m in re.finditer(r"^(P_\d+): .*$", prompt, re.M)}
        kinds = {pid: extract_kind(lines.get(pid, "")) for pid in ids}
        segments = [{"name": f"{k} dimmers", "definition": f"Dimmers of the {k.lower()} kind."} for k in sorted(set(kinds.values()))]
        return {"segments": segments,
                "assignments": [{"product_id": pid, "segment": f"{kinds[pid]} dimmers", "confidence": 0.9} for pid in ids]}
    if name == "ConsolidateTaxonomyAnswer":
        ids = _enum(schema, "merged_ids")
        by_name: dict[str, list[str]] = {}
        names = dict(_T_LINE.findall(prompt))
        for tid in ids:
            by_name.setdefault(names.get(tid, "Misc").replace(" dimmers", ""), []).append(tid)
        return {"segments": [{"name": f"{k} dimmer switches", "definition": f"All {k.lower()} dimmer switches.",
                              "merged_ids": v} for k, v in sorted(by_name.items())]}
    if name == "RefineAssignmentsAnswer":
        ids = _enum(schema, "product_id")
        segs = _enum(schema, "segment_id")
        provisional = dict(_PROVISIONAL.findall(prompt))
        out = []
        for pid in ids:
            current = provisional.get(pid, "none")
            # Move every 7th product to the first segment, so refinement visibly changes something.
            choice = segs[0] if (int(pid[2:]) % 7 == 0 or current not in segs) else current
            out.append({"product_id": pid, "segment_id": choice})
        return {"assignments": out}
    return {}


def responder(req) -> Reply:
    name, schema, prompt = request_parts(req)
    return Reply(json=answer(name, schema, prompt))


def make_finished_run(owner, product_ids: list[int], *, segments: int = 15, calls: int | None = None,
                      changed_every: int = 20, failed_every: int = 25):
    """A completed run over ``product_ids`` written straight to the tables (no model calls): the
    shape the pipeline leaves -- segments, first-pass and refined rows (every ``changed_every``-th
    product moved in refinement), one index row per call (every ``failed_every``-th failed).
    For tests and benchmarks of the pages that show a run, at sizes the pipeline takes minutes for."""
    from django.utils import timezone

    from llm.records import new_run_id
    from segmentation.models import (
        LLMInteractionIndex, ProductSegment, ProductTaxonomy, RefinedProductSegment, SegmentationRun,
    )

    n = len(product_ids)
    run = SegmentationRun.objects.create(
        id=new_run_id(), owner=owner, category_name="Dimmer Switches", status=SegmentationRun.Status.COMPLETED,
        stage="done", total_products=n, processed_products=n, finished_at=timezone.now(),
        result_summary={"products": n, "taxonomies": segments, "unassigned": 0, "changed_in_refinement": n // changed_every,
                        "llm_calls": calls or 0, "retries": 0, "unknown_ids_ignored": 0},
    )
    taxa = ProductTaxonomy.objects.bulk_create([
        ProductTaxonomy(run=run, position=i + 1, category_name=f"Segment {i + 1}: dimmers of kind {i}",
                        definition=f"Dimmer switches of kind {i}, as the products' descriptions put it. " * 2,
                        product_count=0) for i in range(segments)])
    first, refined, counts = [], [], [0] * segments
    for i, pk in enumerate(product_ids):
        before = i % segments
        after = (before + 1) % segments if i % changed_every == 0 else before
        counts[after] += 1
        first.append(ProductSegment(run=run, product_id=pk, taxonomy=taxa[before], confidence=0.9))
        refined.append(RefinedProductSegment(run=run, product_id=pk, taxonomy=taxa[after]))
    ProductSegment.objects.bulk_create(first, batch_size=5000)
    RefinedProductSegment.objects.bulk_create(refined, batch_size=5000)
    for taxon, count in zip(taxa, counts):
        taxon.product_count = count
    ProductTaxonomy.objects.bulk_update(taxa, ["product_count"])
    calls = calls if calls is not None else 2 * (n // 40) + max(1, segments // 4)
    stages = ["extract_taxonomy", "consolidate_taxonomy", "refine_assignments"]
    LLMInteractionIndex.objects.bulk_create([
        LLMInteractionIndex(run=run, interaction_type=stages[0 if i < calls // 2 else (2 if i > calls // 2 else 1)],
                            batch_id=i + 1, attempt=1, status="error" if i % failed_every == failed_every - 1 else "ok",
                            file_path=f"llm_logs/{run.pk}/segmentation/{i:05d}_b{i + 1}_a1_0123abcd.json")
        for i in range(calls)], batch_size=5000)
    return run
