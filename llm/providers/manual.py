from .base import Provider, ProviderRequest, ProviderResponse


class ManualProvider(Provider):
    """The copy/paste tier: nothing is sent anywhere; ``llm.calls.manual`` stores the prompt for a person.

    ``llm.calls.service`` handles this kind before any transport call, so ``execute`` is never reached.
    """

    kind = "manual"

    def execute(self, request: ProviderRequest) -> ProviderResponse:  # pragma: no cover - guarded by the service
        raise RuntimeError("The manual provider is answered by a person, not called.")

    def ping(self) -> str:
        return f"{self.describe()} is always available: prompts wait on the copy/paste page."
