"""A scripted model for the generation tests: answers by the schema the request asks for."""

from llm.testing.fake_provider import RecordedRequest, Reply

CONTENT = {
    "title": "Lumora Glide 600 W Smart Dimmer Switch, Wi-Fi",
    "description": "A Wi-Fi dimmer for LED and halogen bulbs up to 600 W.",
    "bullet_points": ["Dims LED and halogen bulbs", "Works over Wi-Fi"],
    "search_keywords": ["dimmer switch", "smart dimmer"],
}

ATTRIBUTES = {
    "max_load": 600,
    "connectivity": "Wi-Fi",
    "neutral_wire_required": True,
    "compatible_bulbs": ["LED", "Halogen"],
    "model_number": "LG-600",
}


def schema_name(request: RecordedRequest) -> str:
    body = request.body or {}
    return ((body.get("response_format") or {}).get("json_schema") or {}).get("name", "")


class SmartModel:
    def __init__(self):
        self.choice: dict | None = None  # set from the catalog fixture
        self.attributes: dict = dict(ATTRIBUTES)
        self.content: dict = dict(CONTENT)
        self.seen: list[str] = []

    def __call__(self, request: RecordedRequest) -> Reply:
        name = schema_name(request)
        self.seen.append(name)
        if name == "CategoryChoice":
            return Reply(json=self.choice)
        if name == "ProductAttributes":
            return Reply(json=self.attributes)
        if name == "ProductContent":
            return Reply(json=self.content)
        return Reply(text="unexpected request")
