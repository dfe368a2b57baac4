"""The optional UI mockup: size-checked and verified as a real PNG, JPEG or WebP with Pillow."""

import io

from PIL import Image, UnidentifiedImageError

from . import conf

FORMATS = {"PNG": ("image/png", "png"), "JPEG": ("image/jpeg", "jpg"), "WEBP": ("image/webp", "webp")}


class MockupError(ValueError):
    pass


def validate_mockup(data: bytes, claimed_type: str = "") -> str:
    """The media type of ``data`` (as Pillow sees it), or ``MockupError`` saying what is wrong."""
    limit = conf.get("MAX_MOCKUP_BYTES")
    if not data:
        raise MockupError("The mockup file is empty.")
    if len(data) > limit:
        raise MockupError(f"The mockup is {len(data) // 1024} KB; the limit is {limit // 1024} KB.")
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt = img.format
            width, height = img.size
            if width * height > conf.get("MAX_MOCKUP_PIXELS"):
                raise MockupError(f"The mockup is {width}×{height} pixels; that is too large.")
            img.verify()
    except MockupError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise MockupError(f"The mockup is not a readable PNG, JPEG or WebP image ({type(exc).__name__}).") from None
    if fmt not in FORMATS:
        raise MockupError(f"The mockup must be PNG, JPEG or WebP, not {fmt or 'an unknown format'}.")
    media_type = FORMATS[fmt][0]
    if claimed_type and claimed_type.lower() not in (media_type, "image/jpg" if fmt == "JPEG" else media_type):
        raise MockupError(f"The mockup was sent as {claimed_type} but its content is {media_type}.")
    return media_type


def extension_for(media_type: str) -> str:
    for mt, ext in FORMATS.values():
        if mt == media_type:
            return ext
    return "bin"
