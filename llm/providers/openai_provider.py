import base64
import binascii
from typing import Iterator

import openai
import orjson

from ..errors import ProviderCallError
from .base import (
    send_hooks,
    MAX_IMAGE_DOWNLOAD_BYTES, STOP_BLOCKED, STOP_REFUSED, BilledCallError, Provider, ProviderRequest, ProviderResponse,
    Usage, cached_client, download, translate_sdk_errors,
)
from .schema import strict_json_schema
from .streams import ProviderStream


class OpenAIProvider(Provider):
    kind = "openai"
    label = "OpenAI"
    settles_before_send = True

    def client(self) -> openai.OpenAI:
        # The service retries (and logs each attempt), so the SDK must not retry on its own.
        return cached_client(
            self.kind, self.base_url, self.api_key, self.timeout,
            lambda: openai.OpenAI(
                api_key=self.api_key or "not-needed", base_url=self.base_url, timeout=self.timeout, max_retries=0,
                http_client=openai.DefaultHttpxClient(event_hooks=send_hooks()),
            ),
        )

    def execute(self, request: ProviderRequest) -> ProviderResponse:
        kwargs = self.body_for(request)
        with translate_sdk_errors(openai, self.label, request.model):
            raw = self.client().chat.completions.with_raw_response.create(**kwargs)
            fast = _from_json(raw.http_response.content, raw.http_response.status_code)
            if fast is not None:
                return fast
            completion = raw.parse()
        return _from_completion(completion, raw.http_response.status_code)

    def body_for(self, request: ProviderRequest) -> dict:
        """The chat-completions body of a request (also a batch input line's ``body``)."""
        kwargs: dict = {
            "model": request.model,
            "messages": [_openai_message(m) for m in request.messages],
            "max_completion_tokens" if self.kind == "openai" else "max_tokens": request.max_tokens,
        }
        if request.temperature is not None:
            kwargs["temperature"] = request.temperature
        if request.json_schema is not None:
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": request.schema_name, "schema": strict_json_schema(request.json_schema), "strict": True},
            }
        return kwargs

    def response_of(self, body: bytes, http_status: int = 200) -> ProviderResponse:
        """A chat completion's JSON body (an interactive answer or a batch output line's) as a response."""
        fast = _from_json(body, http_status)
        if fast is None:
            raise ProviderCallError("The answer is not JSON.", status="invalid_output", http_status=http_status)
        return fast

    def generate_image(self, *, model: str, prompt: str, size: str = "", quality: str = "") -> tuple[bytes, Usage, str, dict]:
        """One image: (image bytes, token usage if reported, revised prompt, raw response without the image data)."""
        kwargs: dict = {"model": model, "prompt": prompt, "n": 1}
        if size:
            kwargs["size"] = size
        if quality:
            kwargs["quality"] = quality
        if model.startswith("dall-e"):
            # gpt-image-* always answer in base64 and refuse response_format; DALL-E defaults to URLs.
            kwargs["response_format"] = "b64_json"
        with translate_sdk_errors(openai, self.label, model):
            raw = self.client().images.with_raw_response.generate(**kwargs)
            result = raw.parse()
        item = result.data[0] if result.data else None
        usage = result.usage
        billed = Usage(input_tokens=(usage.input_tokens or 0) if usage else 0,
                       output_tokens=(usage.output_tokens or 0) if usage else 0)
        if item is None or not (item.b64_json or item.url):
            raise ProviderCallError(f"{self.label} returned no image data for model {model!r}.", status="invalid_output",
                                    http_status=raw.http_response.status_code)
        if item.b64_json:
            try:
                data = base64.b64decode(item.b64_json, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ProviderCallError(f"{self.label} returned image data for model {model!r} that is not valid base64.",
                                        status="invalid_output", http_status=raw.http_response.status_code) from exc
        else:
            # DALL-E 2 and OpenAI-compatible servers may answer with a URL (valid for an hour): the image
            # is made and billed either way, so fetch it now; if that fails the cost is still logged.
            try:
                data = download(item.url, timeout=self.timeout, max_bytes=MAX_IMAGE_DOWNLOAD_BYTES)
            except ValueError as exc:
                raise BilledCallError(f"{self.label} made an image for model {model!r} but {exc}.", usage=billed,
                                      http_status=raw.http_response.status_code) from None
        dumped = result.model_dump(mode="json", exclude_none=True)
        for entry in dumped.get("data", []):
            if "b64_json" in entry:
                entry["b64_json"] = f"<{len(data)} bytes, stored separately>"
        return data, billed, item.revised_prompt or "", dumped

    def ping(self) -> str:
        with translate_sdk_errors(openai, self.label, "-"):
            models = self.client().models.list()
            names = [m.id for m in models.data[:5]]
        return f"{self.describe()} answered; models: {', '.join(names) or 'none listed'}"

    def stream(self, request: ProviderRequest):
        """The answer as it arrives (llm/providers/streams.py): chat completions with ``stream=True``."""

        return open_openai(self, request)


def _from_completion(completion, http_status: int) -> ProviderResponse:
    """The answer from the SDK's parsed ChatCompletion (when the body was not read directly)."""
    choice = completion.choices[0] if completion.choices else None
    text = (choice.message.content or "") if choice else ""
    usage = completion.usage
    details = getattr(usage, "prompt_tokens_details", None) if usage else None
    out_details = getattr(usage, "completion_tokens_details", None) if usage else None
    finish = (choice.finish_reason or "") if choice else ""
    stop, detail = _stop_of(finish, getattr(choice.message, "refusal", None) if choice else None)
    return ProviderResponse(
        stop=stop,
        stop_detail=detail,
        text=text,
        usage=Usage(
            input_tokens=(usage.prompt_tokens or 0) if usage else 0,
            cached_input_tokens=(getattr(details, "cached_tokens", 0) or 0) if details else 0,
            output_tokens=(usage.completion_tokens or 0) if usage else 0,
            reasoning_tokens=(getattr(out_details, "reasoning_tokens", 0) or 0) if out_details else 0,
        ),
        truncated=finish == "length",
        finish_reason=finish,
        raw=completion.model_dump(mode="json", exclude_none=True),
        http_status=http_status,
    )


def _openai_message(message: dict) -> dict:
    content = message["content"]
    if isinstance(content, str):
        return message
    parts = [
        {"type": "text", "text": p["text"]} if p["type"] == "text"
        else {"type": "image_url", "image_url": {"url": f"data:{p['media_type']};base64,{p['data']}"}}
        for p in content
    ]
    return {"role": message["role"], "content": parts}


class OpenAICompatibleProvider(OpenAIProvider):
    """Any server speaking OpenAI's chat completions (Ollama, vLLM, llama.cpp, LM Studio, gateways)."""

    kind = "openai_compatible"
    label = "OpenAI-compatible server"


def _stop_of(finish: str, refusal: str | None) -> tuple[str, str]:
    """(ProviderResponse.stop, its reason) of a chat completion choice.

    ``message.refusal`` is the model declining, in its own words (with or without a JSON schema:
    openai-python tests/lib/chat/test_completions.py::test_parse_pydantic_model_refusal);
    ``finish_reason: "content_filter"`` is "content was omitted due to a flag from our content
    filters" (openai-python src/openai/types/chat/chat_completion.py).
    """
    if refusal:
        return STOP_REFUSED, refusal
    if finish == "content_filter":
        return STOP_BLOCKED, "OpenAI's content filter flagged the answer and left it out (finish_reason content_filter)"
    return "", ""


def _count(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _from_json(body: bytes, http_status: int) -> ProviderResponse | None:
    """The answer read straight from the response body, or None when the body is not JSON (then
    the SDK's ``raw.parse()`` reports it as before).

    Building the SDK's pydantic objects and dumping them back to a dict for the log cost about
    a millisecond per call; a chat completion needs neither. The raw dict is what the provider
    sent, nulls included.
    """
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    choices = data.get("choices") if isinstance(data, dict) else None
    choice = choices[0] if isinstance(choices, list) and choices else {}
    message = choice.get("message") if isinstance(choice, dict) else None
    message = {} if message is None else message
    text = message.get("content") if isinstance(message, dict) else None
    finish = (choice.get("finish_reason") if isinstance(choice, dict) else None) or ""
    # The SDK builds its objects without validating them, so it would hand such shapes on as they
    # are (a list as the "text", or no choices at all): refuse them here with the reason.
    if not isinstance(choices, list) or not isinstance(choice, dict) or not isinstance(message, dict):
        raise ProviderCallError("The answer is JSON but not a chat completion (no choices with a message).",
                                status="invalid_output", http_status=http_status)
    if not isinstance(text, (str, type(None))) or not isinstance(finish, str):
        raise ProviderCallError(f"The answer's message content is a {type(text).__name__}, not text.",
                                status="invalid_output", http_status=http_status)
    refusal = message.get("refusal")
    stop, detail = _stop_of(finish, refusal if isinstance(refusal, str) else None)
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    details = usage.get("prompt_tokens_details") if isinstance(usage.get("prompt_tokens_details"), dict) else {}
    out_details = usage.get("completion_tokens_details") if isinstance(usage.get("completion_tokens_details"), dict) else {}
    return ProviderResponse(
        stop=stop,
        stop_detail=detail,
        text=text or "",
        usage=Usage(
            input_tokens=_count(usage.get("prompt_tokens")),
            cached_input_tokens=_count(details.get("cached_tokens")),
            output_tokens=_count(usage.get("completion_tokens")),
            reasoning_tokens=_count(out_details.get("reasoning_tokens")),
        ),
        truncated=finish == "length",
        finish_reason=finish,
        raw=data,
        http_status=http_status,
    )


# ----- streaming (llm/providers/streams.py) ------------------------------------------------ #
class OpenAIStream(ProviderStream):
    label = "OpenAI"

    def __init__(self, sdk_stream, model: str, *, json_schema: bool):
        super().__init__(sdk_stream, model)
        self.finish = ""
        self.refusal: list[str] = []
        self.usage = Usage()
        self.last: dict = {}

    def _deltas(self) -> Iterator[str]:

        for chunk in self._sdk_stream:
            self.last = {"id": chunk.id, "model": chunk.model}
            if chunk.usage is not None:
                self.usage_reported = True
                u = chunk.usage
                details = getattr(u, "prompt_tokens_details", None)
                out_details = getattr(u, "completion_tokens_details", None)
                self.usage = Usage(
                    input_tokens=u.prompt_tokens or 0,
                    cached_input_tokens=(getattr(details, "cached_tokens", 0) or 0) if details else 0,
                    output_tokens=u.completion_tokens or 0,
                    reasoning_tokens=(getattr(out_details, "reasoning_tokens", 0) or 0) if out_details else 0,
                )
            for choice in chunk.choices or []:
                if choice.index:
                    continue
                delta = choice.delta
                if delta is not None:
                    if getattr(delta, "refusal", None):
                        self.refusal.append(delta.refusal)
                    if delta.content:
                        yield delta.content
                    for call in getattr(delta, "tool_calls", None) or []:
                        if call.function is not None and call.function.arguments:
                            yield call.function.arguments
                if choice.finish_reason:
                    self.finish = choice.finish_reason
        if not self.finish:
            return  # no finish reason: cut off (raised by __iter__)
        stop, detail = _stop_of(self.finish, "".join(self.refusal) or None)
        self.response = ProviderResponse(
            text=self.text, usage=self.usage, truncated=self.finish == "length", finish_reason=self.finish,
            raw={**self.last, "streamed": True, "chunks": self.chunks, "usage_reported": self.usage_reported},
            stop=stop, stop_detail=detail,
        )


def open_openai(provider, request: ProviderRequest) -> OpenAIStream:
    kwargs: dict = {
        **provider.body_for(request),  # the same body as an interactive call or a batch line
        "stream": True,
        # Without it the stream carries no usage at all (openai-python
        # src/openai/types/chat/chat_completion_stream_options_param.py).
        "stream_options": {"include_usage": True},
    }
    with translate_sdk_errors(openai, provider.label, request.model):
        sdk_stream = provider.client().chat.completions.create(**kwargs)
    return OpenAIStream(sdk_stream, request.model, json_schema=request.json_schema is not None)
