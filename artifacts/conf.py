"""Settings of the artifacts app, read from django.conf.settings with environment defaults.

Read at call time (functions, not constants) so tests and admins can change them.
"""

import environ
from django.conf import settings

env = environ.Env()


def default_provider() -> str:
    """The provider used in the app-supplied-key mode (seed 001: Gemini 2.0 Flash)."""
    return getattr(settings, "ARTIFACTS_DEFAULT_PROVIDER", None) or env.str("ARTIFACTS_DEFAULT_PROVIDER", default="gemini")


def default_model() -> str:
    return getattr(settings, "ARTIFACTS_DEFAULT_MODEL", None) or env.str("ARTIFACTS_DEFAULT_MODEL", default="gemini-2.0-flash")


def max_input_tokens() -> int:
    """A ceiling on prompt size below the model's window: a 1M-token prompt is rarely worth its cost."""
    return int(getattr(settings, "ARTIFACTS_MAX_INPUT_TOKENS", None) or env.int("ARTIFACTS_MAX_INPUT_TOKENS", default=100_000))


def key_encryption_secret() -> str:
    """The secret stored keys were encrypted with before FIELD_ENCRYPTION_KEY (decryption only: crypto)."""
    return (
        getattr(settings, "ARTIFACTS_KEY_ENCRYPTION_KEY", None)
        or env.str("ARTIFACTS_KEY_ENCRYPTION_KEY", default="")
        or settings.SECRET_KEY
    )


def webhook_allow_private() -> bool:
    """Allow webhook URLs on loopback/private addresses (tests, single-machine setups)."""
    value = getattr(settings, "ARTIFACTS_WEBHOOK_ALLOW_PRIVATE", None)
    if value is None:
        value = env.bool("ARTIFACTS_WEBHOOK_ALLOW_PRIVATE", default=False)
    return bool(value)


def webhook_timeout() -> float:
    return float(getattr(settings, "ARTIFACTS_WEBHOOK_TIMEOUT", None) or env.float("ARTIFACTS_WEBHOOK_TIMEOUT", default=10.0))


def webhook_max_attempts() -> int:
    return int(getattr(settings, "ARTIFACTS_WEBHOOK_MAX_ATTEMPTS", None) or env.int("ARTIFACTS_WEBHOOK_MAX_ATTEMPTS", default=5))


def image_provider() -> str:
    """Provider for image artifacts' pictures (an OpenAI or Gemini kind); blank = the app's default provider."""
    return getattr(settings, "ARTIFACTS_IMAGE_PROVIDER", None) or env.str("ARTIFACTS_IMAGE_PROVIDER", default="") or default_provider()


def image_model() -> str:
    """Blank = llm's default image model for that provider (gpt-image-1, gemini-2.5-flash-image)."""
    return getattr(settings, "ARTIFACTS_IMAGE_MODEL", None) or env.str("ARTIFACTS_IMAGE_MODEL", default="")


def image_size() -> str:
    return getattr(settings, "ARTIFACTS_IMAGE_SIZE", None) or env.str("ARTIFACTS_IMAGE_SIZE", default="1024x1024")


def webhook_ca_file() -> str:
    """A PEM bundle to verify webhook receivers' certificates with (blank = the system's CAs)."""
    return getattr(settings, "ARTIFACTS_WEBHOOK_CA_FILE", None) or env.str("ARTIFACTS_WEBHOOK_CA_FILE", default="")


def max_text_chars() -> int:
    """The longest pasted answer or hand edit an artifact takes (characters); longer text is refused
    with a message, before anything is parsed or rendered."""
    return int(getattr(settings, "ARTIFACTS_MAX_TEXT_CHARS", None) or env.int("ARTIFACTS_MAX_TEXT_CHARS", default=200_000))
