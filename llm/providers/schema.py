"""JSON-schema helpers for the providers' native structured-output modes."""

import copy

# id(schema) -> (schema, strict copy). ``llm.calls.structured.schema_of`` hands out one dict per model,
# so a pipeline that sends the same model many times converts it once. The entry keeps its
# source alive, so an id is never reused while its entry exists.
_STRICT: dict[int, tuple[dict, dict]] = {}
_STRICT_MAX = 512


def strict_json_schema(schema: dict) -> dict:
    """OpenAI's strict mode wants every object closed and every property required.

    Optional fields stay optional in our local (pydantic) validation; the model just has to
    send them, possibly as null when the schema allows it. The result is shared: read-only.
    """
    entry = _STRICT.get(id(schema))
    if entry is not None and entry[0] is schema:
        return entry[1]
    strict = _strict_copy(schema)
    if len(_STRICT) >= _STRICT_MAX:
        _STRICT.clear()
    _STRICT[id(schema)] = (schema, strict)
    return strict


def _strict_copy(schema: dict) -> dict:
    schema = copy.deepcopy(schema)

    def visit(node):
        if isinstance(node, dict):
            if node.get("type") == "object" or "properties" in node:
                props = node.get("properties", {})
                node["additionalProperties"] = False
                node["required"] = list(props.keys())
            node.pop("default", None)
            for key in ("title",):
                if isinstance(node.get(key), str) and ("type" in node or "$ref" in node or "anyOf" in node):
                    node.pop(key, None)
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for item in node:
                visit(item)

    visit(schema)
    return schema


def inline_refs(schema: dict) -> dict:
    """Resolve local ``$ref``s into the schema (for providers that dislike $defs)."""
    schema = copy.deepcopy(schema)
    defs = schema.pop("$defs", {}) or schema.pop("definitions", {})

    def resolve(node, depth=0):
        if depth > 20:
            return node
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/"):
                name = ref.split("/")[-1]
                target = copy.deepcopy(defs.get(name, {}))
                extra = {k: v for k, v in node.items() if k != "$ref"}
                target.update(extra)
                return resolve(target, depth + 1)
            return {k: resolve(v, depth) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v, depth) for v in node]
        return node

    return resolve(schema)
