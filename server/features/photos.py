"""Incident photos: check, strip and re-encode an upload before it is stored.

A phone photo is untrusted bytes. It is accepted only if Pillow decodes it
as JPEG, PNG or WebP (the name and the declared type are ignored); the pixel
count is checked from the header *before* any pixel is decoded, so a small
file that would expand to gigabytes (a decompression bomb) is refused
without being expanded. The stored photo is a fresh JPEG of the decoded
pixels, turned upright and scaled down: EXIF (GPS position, camera serial),
XMP and PNG text chunks are not copied, because nothing but pixels is.

CPU-bound (~160 ms for a 12-megapixel JPEG here, ``bench/stock_photos.py``);
callers run it in a thread.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from server.errors import InvalidRequest, PayloadTooLarge

ACCEPTED_FORMATS = frozenset({"JPEG", "PNG", "WEBP"})
JPEG_QUALITY = 82


@dataclass(frozen=True)
class StoredPhoto:
    data: bytes
    width: int
    height: int
    content_type: str = "image/jpeg"


def _refuse(message: str, code: str) -> InvalidRequest:
    return InvalidRequest(message, code=code)


def reencode_photo(raw: bytes, *, max_bytes: int, max_pixels: int, max_side: int) -> StoredPhoto:
    """Decode ``raw`` safely and return it as a clean, bounded JPEG.

    Raises ``PayloadTooLarge`` (``photo_too_large``) or ``InvalidRequest``
    with a stable code: ``unsupported_photo`` (not a JPEG, PNG or WebP
    image), ``photo_too_many_pixels``, ``corrupt_photo``.
    """
    if len(raw) > max_bytes:
        raise PayloadTooLarge(
            f"The photo is over {max_bytes} bytes.",
            {"max_bytes": max_bytes},
            code="photo_too_large",
        )
    with warnings.catch_warnings():
        # Pillow warns (rather than fails) between MAX_IMAGE_PIXELS and twice
        # that; our own limit below is the one that counts, so make both fail.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(raw), formats=sorted(ACCEPTED_FORMATS))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _refuse("The photo has too many pixels.", "photo_too_many_pixels") from None
        except UnidentifiedImageError:
            # Only the three decoders are tried: no exotic format's parser
            # ever sees an upload.
            raise _refuse(
                "The upload is not a JPEG, PNG or WebP image.", "unsupported_photo"
            ) from None
        except (OSError, ValueError, SyntaxError):
            # A header cut short (a truncated JPEG) fails while it is opened.
            raise _refuse("The photo could not be decoded.", "corrupt_photo") from None
        with image:
            width, height = image.size
            if width * height > max_pixels or width < 1 or height < 1:
                raise _refuse(
                    f"The photo has {width}×{height} pixels; at most {max_pixels} are accepted.",
                    "photo_too_many_pixels",
                )
            try:
                return _reencode(image, max_side)
            except (OSError, ValueError, SyntaxError, Image.DecompressionBombWarning):
                raise _refuse("The photo could not be decoded.", "corrupt_photo") from None


def _reencode(image: Image.Image, max_side: int) -> StoredPhoto:
    width, height = image.size
    scale = max_side / max(width, height)
    if image.format == "JPEG" and scale < 1:
        # Let libjpeg decode at 1/2, 1/4 or 1/8 scale when that still leaves
        # at least the size we keep: several times faster, same result.
        image.draft("RGB", (max(1, int(width * scale)), max(1, int(height * scale))))
    image.load()
    # Apply the EXIF orientation to the pixels, since the EXIF is dropped.
    upright = ImageOps.exif_transpose(image)
    if upright.mode in ("RGBA", "LA", "PA") or (
        upright.mode == "P" and "transparency" in upright.info
    ):
        rgba = upright.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        upright = flat
    elif upright.mode != "RGB":
        upright = upright.convert("RGB")
    upright.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    # No exif=, no icc_profile=, no xmp=: the new file carries only pixels.
    upright.save(out, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return StoredPhoto(out.getvalue(), upright.width, upright.height)
