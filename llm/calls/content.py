"""Message content: plain text, or a list of parts mixing text and images (for vision models).

A part is ``{"type": "text", "text": "…"}`` or
``{"type": "image", "media_type": "image/png", "data": "<base64>"}``; build image parts with
``image_part(raw_bytes, media_type)``.
"""

import base64
import binascii
import hashlib

IMAGE_TYPES = {"image/png", "image/jpeg", "image/webp", "image/gif"}


def image_part(data: bytes, media_type: str) -> dict:
    if media_type not in IMAGE_TYPES:
        raise ValueError(f"Images must be one of {', '.join(sorted(IMAGE_TYPES))}, not {media_type!r}.")
    return {"type": "image", "media_type": media_type, "data": base64.b64encode(data).decode("ascii")}


def validate(content) -> str | list[dict]:
    if isinstance(content, str):
        return content
    if not isinstance(content, list) or not content:
        raise ValueError("Message content must be text or a non-empty list of text and image parts.")
    parts = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            parts.append({"type": "text", "text": part["text"]})
        elif kind == "image":
            if part.get("media_type") not in IMAGE_TYPES:
                raise ValueError(f"Image parts need a media_type among {', '.join(sorted(IMAGE_TYPES))}.")
            try:
                base64.b64decode(part.get("data", ""), validate=True)
            except (binascii.Error, ValueError):
                raise ValueError("Image part data must be base64.") from None
            parts.append({"type": "image", "media_type": part["media_type"], "data": part["data"]})
        else:
            raise ValueError("Each content part must be {'type': 'text', 'text': …} or an image part.")
    return parts


def has_images(messages: list[dict]) -> bool:
    return any(isinstance(m["content"], list) and any(p["type"] == "image" for p in m["content"]) for m in messages)


def _image_summary(part: dict) -> dict:
    raw = base64.b64decode(part["data"])
    return {"type": "image", "media_type": part["media_type"], "sha256": hashlib.sha256(raw).hexdigest(), "bytes": len(raw)}


def text_of(content) -> str:
    """The text a person (or a token counter) sees; images become a short placeholder."""
    if isinstance(content, str):
        return content
    out = []
    for part in content:
        if part["type"] == "text":
            out.append(part["text"])
        else:
            s = _image_summary(part)
            out.append(f"[Image attached: {s['media_type']}, {s['bytes']} bytes — attach it in your chat too]")
    return "\n\n".join(out)


def redacted(messages: list[dict]) -> list[dict]:
    """Messages with image bytes replaced by their hash and size (for cache keys and log files)."""
    out = []
    for m in messages:
        if isinstance(m["content"], list):
            out.append({"role": m["role"], "content": [p if p["type"] == "text" else _image_summary(p) for p in m["content"]]})
        else:
            out.append(m)
    return out
