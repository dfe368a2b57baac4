"""The browser tier: a prompt run by the model built into the user's browser (Chrome's Prompt API).

The server never calls it. A call to the ``browser`` provider is a copy/paste call whose
"person" is the page's script: ``complete(provider="browser")`` stores the prompt and raises
``ManualAnswerPending``; the page runs the prompt with ``LanguageModel.create()`` /
``session.promptStreaming()`` and posts the answer back through ``llm.manual.submit_answer``
exactly like a pasted answer: logged as provider ``browser``, cost 0, the model name the browser
reported. (A prompt the browser never answers waits in the copy/paste queue, where a person can
still answer it by hand.)
"""

from ..models import LLMModel, LLMProvider

NAME = "browser"


def provider() -> LLMProvider:
    row, _ = LLMProvider.objects.get_or_create(
        name=NAME,
        defaults={"kind": LLMProvider.Kind.MANUAL, "display_name": "In the browser (built-in model)",
                  "key_source": LLMProvider.KeySource.NONE, "default_model": NAME},
    )
    return row


def model(row: LLMProvider) -> LLMModel:
    found, _ = LLMModel.objects.get_or_create(
        provider=row, name=NAME,
        defaults={"price_source": LLMModel.PriceSource.BUNDLED, "input_price_per_1m": 0, "output_price_per_1m": 0,
                  "cached_input_price_per_1m": 0,
                  # Chrome's built-in model (Gemini Nano) takes a few thousand tokens; keep the context small.
                  "context_window": 6000, "max_output_tokens": 1024},
    )
    return found
