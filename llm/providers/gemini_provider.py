import base64
import json
from typing import Iterator

import httpx2 as httpx
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from ..errors import ProviderCallError
from .base import (
    send_hooks,
    STOP_BLOCKED, STOP_NO_ANSWER, Provider, ProviderRequest, ProviderResponse, Usage, cached_client, connection_error, error_for_status,
    sdk_error_body, timeout_error,
)
from .schema import inline_refs
from .streams import ProviderStream


class GeminiProvider(Provider):
    kind = "gemini"
    label = "Google Gemini"
    settles_before_send = True

    def client(self) -> genai.Client:
        options: dict = {"retry_options": types.HttpRetryOptions(attempts=1),
                         "client_args": {"event_hooks": send_hooks()}}
        if self.base_url:
            options["base_url"] = self.base_url
        if self.timeout:
            options["timeout"] = int(self.timeout * 1000)  # milliseconds
        return cached_client(
            self.kind, self.base_url, self.api_key, self.timeout,
            lambda: genai.Client(api_key=self.api_key or "not-needed", http_options=types.HttpOptions(**options)),
        )

    def execute(self, request: ProviderRequest) -> ProviderResponse:
        contents, config = self.contents_and_config(request)
        # Keep the client referenced while it works: a dropped genai.Client closes its connection pool.
        client = self.client()
        with _translate_errors(self.label, request.model):
            response = client.models.generate_content(model=request.model, contents=contents, config=config)
        return self.response_of(response)

    def contents_and_config(self, request: ProviderRequest) -> tuple[list, types.GenerateContentConfig]:
        """The contents and config of a request (also a batch's inlined request)."""
        config: dict = {"max_output_tokens": request.max_tokens}
        if request.system_text:
            config["system_instruction"] = request.system_text
        if request.temperature is not None:
            config["temperature"] = request.temperature
        if request.json_schema is not None:
            config["response_mime_type"] = "application/json"
            config["response_json_schema"] = inline_refs(request.json_schema)
        contents = [
            types.Content(role="model" if m["role"] == "assistant" else "user", parts=_gemini_parts(m["content"]))
            for m in request.chat_messages
        ]
        config["automatic_function_calling"] = types.AutomaticFunctionCallingConfig(disable=True)
        return contents, types.GenerateContentConfig(**config)

    def response_of(self, response: types.GenerateContentResponse) -> ProviderResponse:
        """A GenerateContentResponse (interactive, or a batch's inlined response) as a response."""
        candidate = response.candidates[0] if response.candidates else None
        text = ""
        if candidate and candidate.content and candidate.content.parts:
            text = "".join(p.text or "" for p in candidate.content.parts if not getattr(p, "thought", False))
        finish = _enum_text(candidate.finish_reason if candidate else None)
        um = response.usage_metadata
        thoughts = (um.thoughts_token_count or 0) if um else 0
        stop, detail = "", ""
        feedback = response.prompt_feedback
        if candidate is None and feedback is not None and feedback.block_reason:
            # https://ai.google.dev/api/generate-content#PromptFeedback: "If set, the prompt was blocked
            # and no candidates are returned."
            finish = _enum_text(feedback.block_reason)
            stop, detail = STOP_BLOCKED, f"the prompt was blocked ({finish}{_blocked_ratings(feedback.safety_ratings)})"
            if feedback.block_reason_message:
                detail += f": {feedback.block_reason_message}"
        elif finish in BLOCKING_FINISH_REASONS:
            stop = STOP_BLOCKED
            detail = f"the answer was blocked ({finish}{_blocked_ratings(candidate.safety_ratings)})"
            if candidate.finish_message:
                detail += f": {candidate.finish_message}"
        elif finish == "MAX_TOKENS" and not text and thoughts:
            detail = (f"the model spent the whole output budget thinking ({thoughts} thinking tokens) and wrote no answer; "
                      "raise max_tokens or lower the thinking budget")
        elif not text and finish not in ("", "STOP", "MAX_TOKENS"):
            # OTHER, LANGUAGE, MALFORMED_FUNCTION_CALL, UNEXPECTED_TOOL_CALL, NO_IMAGE… with nothing written:
            # not a usable (empty) answer, and not worth caching (google.genai.types.FinishReason).
            stop = STOP_NO_ANSWER
            detail = f"the model finished with {finish} and wrote no answer"
            if candidate and candidate.finish_message:
                detail += f": {candidate.finish_message}"
        return ProviderResponse(
            stop=stop,
            stop_detail=detail,
            text=text,
            usage=Usage(
                input_tokens=(um.prompt_token_count or 0) if um else 0,
                cached_input_tokens=(um.cached_content_token_count or 0) if um else 0,
                # Gemini bills thinking tokens as output but reports them apart from the candidates.
                output_tokens=((um.candidates_token_count or 0) + thoughts) if um else 0,
                reasoning_tokens=thoughts,
            ),
            truncated=finish == "MAX_TOKENS",
            finish_reason=finish,
            raw=response.model_dump(mode="json", exclude_none=True),
        )

    def generate_image(self, *, model: str, prompt: str, size: str = "", quality: str = "") -> tuple[bytes, Usage, str, dict]:
        """One image through generateContent (``generate_images``/Imagen only works on Vertex clients).

        Returns (image bytes, token usage, revised prompt (Gemini has none), raw response without the image data).
        Size and quality have no generateContent equivalent and are ignored.
        """
        client = self.client()
        with _translate_errors(self.label, model):
            response = client.models.generate_content(
                model=model, contents=prompt, config=types.GenerateContentConfig(response_modalities=["IMAGE"])
            )
        candidate = response.candidates[0] if response.candidates else None
        parts = (candidate.content.parts or []) if candidate and candidate.content else []
        blob = next((p.inline_data for p in parts if p.inline_data is not None and p.inline_data.data), None)
        if blob is None:
            finish = str(candidate.finish_reason.value if candidate and candidate.finish_reason else "")
            raise ProviderCallError(
                f"{self.label} returned no image for model {model!r}"
                + (f" (finish reason {finish})." if finish else ".") + " The prompt may have been refused.",
                status="invalid_output",
            )
        um = response.usage_metadata
        dumped = response.model_dump(mode="json", exclude_none=True)
        for cand in dumped.get("candidates", []):
            for part in (cand.get("content") or {}).get("parts", []):
                if isinstance(part.get("inline_data"), dict) and "data" in part["inline_data"]:
                    part["inline_data"]["data"] = f"<{len(blob.data)} bytes, stored separately>"
        usage = Usage(
            input_tokens=(um.prompt_token_count or 0) if um else 0,
            output_tokens=((um.candidates_token_count or 0) + (um.thoughts_token_count or 0)) if um else 0,
            reasoning_tokens=(um.thoughts_token_count or 0) if um else 0,
        )
        return blob.data, usage, "", dumped

    def ping(self) -> str:
        with _translate_errors(self.label, "-"):
            names = []
            client = self.client()
            for m in client.models.list(config={"page_size": 5}):
                names.append(m.name)
                if len(names) >= 5:
                    break
        return f"{self.describe()} answered; models: {', '.join(names) or 'none listed'}"

    def stream(self, request: ProviderRequest):
        """The answer as it arrives (llm/providers/streams.py): ``generate_content_stream``."""

        return open_gemini(self, request)


# Finish reasons that mean a filter stopped the answer (google.genai.types.FinishReason;
# https://ai.google.dev/api/generate-content#FinishReason): never a usable answer, even with text.
BLOCKING_FINISH_REASONS = frozenset({
    "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT",
    "IMAGE_RECITATION", "MODEL_ARMOR",
})


def _enum_text(value) -> str:
    if value is None:
        return ""
    return str(getattr(value, "value", value))


def _blocked_ratings(ratings) -> str:
    """", HARM_CATEGORY_X: HIGH" for the safety ratings that blocked (all rated ones when none says so)."""
    ratings = list(ratings or [])
    blocked = [r for r in ratings if getattr(r, "blocked", False)] or [
        r for r in ratings if _enum_text(getattr(r, "probability", None)) in ("MEDIUM", "HIGH")
    ]
    names = [f"{_enum_text(r.category)}: {_enum_text(r.probability)}" for r in blocked if getattr(r, "category", None)]
    return f"; {', '.join(names)}" if names else ""


def _gemini_parts(content) -> list:
    if isinstance(content, str):
        return [types.Part(text=content)]
    return [
        types.Part(text=p["text"]) if p["type"] == "text"
        else types.Part.from_bytes(data=base64.b64decode(p["data"]), mime_type=p["media_type"])
        for p in content
    ]


class _translate_errors:
    def __init__(self, provider: str, model: str):
        self.provider, self.model = provider, model

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is None:
            return False
        if isinstance(exc, genai_errors.APIError):
            headers = getattr(getattr(exc, "response", None), "headers", None)
            raise error_for_status(self.provider, self.model, int(exc.code or 500), exc.message or str(exc), headers,
                                   body=sdk_error_body(exc)) from exc
        if isinstance(exc, httpx.TimeoutException) or type(exc).__name__.endswith("Timeout"):
            raise timeout_error(self.provider, self.model) from exc
        if isinstance(exc, (httpx.TransportError, ConnectionError)) or "Connect" in type(exc).__name__ or "Protocol" in type(exc).__name__:
            raise connection_error(self.provider, self.model, exc) from exc
        return False


# ----- streaming (llm/providers/streams.py) ------------------------------------------------ #
class GeminiStream(ProviderStream):
    label = "Google Gemini"

    def __init__(self, sdk_stream, model: str, client):
        super().__init__(sdk_stream, model)
        self._client = client  # a dropped genai.Client closes its connection pool: keep it while streaming
        self.finish = ""
        self.um = None
        self.last = None
        self.function_args: list[str] = []

    def _deltas(self) -> Iterator[str]:
        for response in self._sdk_stream:
            self.last = response
            if response.usage_metadata is not None:
                self.um = response.usage_metadata
            candidate = response.candidates[0] if response.candidates else None
            if candidate is not None and candidate.content and candidate.content.parts:
                for part in candidate.content.parts:
                    if getattr(part, "thought", False):
                        continue
                    if part.text:
                        yield part.text
                    elif getattr(part, "function_call", None) is not None:
                        yield json.dumps(part.function_call.args or {}, ensure_ascii=False)
            if candidate is not None and candidate.finish_reason:

                self.finish = _enum_text(candidate.finish_reason)
            if candidate is None and response.prompt_feedback is not None and response.prompt_feedback.block_reason:
                self.finish = "BLOCKED"
        if not self.finish:
            return
        um = self.um
        self.usage_reported = um is not None and um.prompt_token_count is not None
        thoughts = (um.thoughts_token_count or 0) if um else 0
        from .base import STOP_BLOCKED

        stop, detail = "", ""
        feedback = self.last.prompt_feedback if self.last is not None else None
        if feedback is not None and feedback.block_reason:
            stop, detail = STOP_BLOCKED, f"the prompt was blocked ({_enum_text(feedback.block_reason)})"
            self.finish = _enum_text(feedback.block_reason)
        elif self.finish in BLOCKING_FINISH_REASONS:
            stop, detail = STOP_BLOCKED, f"the answer was blocked ({self.finish})"
        self.response = ProviderResponse(
            text=self.text,
            usage=Usage(
                input_tokens=(um.prompt_token_count or 0) if um else 0,
                cached_input_tokens=(um.cached_content_token_count or 0) if um else 0,
                output_tokens=((um.candidates_token_count or 0) + thoughts) if um else 0,
                reasoning_tokens=thoughts,
            ),
            truncated=self.finish == "MAX_TOKENS", finish_reason=self.finish,
            raw={"response_id": getattr(self.last, "response_id", None), "model": self.model, "streamed": True,
                 "chunks": self.chunks, "usage_reported": self.usage_reported},
            stop=stop, stop_detail=detail,
        )

    def close(self) -> None:
        closer = getattr(self._sdk_stream, "close", None)  # a generator: close() runs its finally (closes the response)
        if callable(closer):
            try:
                closer()
            except Exception:
                pass


def open_gemini(provider, request: ProviderRequest) -> GeminiStream:
    contents, config = provider.contents_and_config(request)  # the same request as an interactive call
    client = provider.client()
    with _translate_errors(provider.label, request.model):
        iterator = client.models.generate_content_stream(
            model=request.model, contents=contents, config=config
        )
        # The request goes out on the first next(): pull the first chunk here, so an HTTP error is a
        # ProviderCallError (retried like a plain call) and not a broken stream.
        first = next(iterator, None)

    def chained():
        if first is not None:
            yield first
        try:
            yield from iterator
        finally:
            iterator.close()

    stream = GeminiStream(chained(), request.model, client)
    return stream
