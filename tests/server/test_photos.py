"""Photo re-encoding: formats by content, bombs and junk refused, metadata gone."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import ExifTags, Image

from server.errors import InvalidRequest, PayloadTooLarge
from server.features.photos import reencode_photo

LIMITS = {"max_bytes": 5_000_000, "max_pixels": 40_000_000, "max_side": 1600}


def jpeg_with_gps(size: tuple[int, int] = (400, 200), orientation: int = 1) -> bytes:
    image = Image.new("RGB", size, (200, 30, 30))
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Muster Phone"
    exif[ExifTags.Base.Orientation] = orientation
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (31.0, 14.0, 1.5)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (121.0, 28.0, 2.5)
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    return out.getvalue()


def png_bytes(size: tuple[int, int], mode: str = "RGBA") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, (0, 128, 0, 0) if mode == "RGBA" else (0, 128, 0)).save(out, format="PNG")
    return out.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(width: int, height: int) -> bytes:
    """A few hundred bytes that claim ``width``×``height`` pixels: a bomb's header."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (1 + 3 * 64) * 64, 9)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", rows)
        + _chunk(b"IEND", b"")
    )


def test_gps_and_exif_are_gone_after_reencode():
    raw = jpeg_with_gps()
    with Image.open(io.BytesIO(raw)) as source:
        assert source.getexif().get_ifd(ExifTags.IFD.GPSInfo)  # the test photo has GPS
    stored = reencode_photo(raw, **LIMITS)
    with Image.open(io.BytesIO(stored.data)) as clean:
        assert clean.format == "JPEG"
        assert len(clean.getexif()) == 0
        assert not clean.getexif().get_ifd(ExifTags.IFD.GPSInfo)
        assert "exif" not in clean.info and "xmp" not in clean.info
    assert b"Muster Phone" not in stored.data


def test_orientation_is_applied_to_the_pixels():
    stored = reencode_photo(jpeg_with_gps((400, 200), orientation=6), **LIMITS)
    assert (stored.width, stored.height) == (200, 400)


def test_resized_to_the_longest_side():
    raw = jpeg_with_gps((3000, 1500))
    stored = reencode_photo(raw, **{**LIMITS, "max_side": 800})
    assert (stored.width, stored.height) == (800, 400)


def test_png_with_alpha_and_webp_become_jpeg():
    stored = reencode_photo(png_bytes((50, 40)), **LIMITS)
    assert stored.content_type == "image/jpeg" and (stored.width, stored.height) == (50, 40)
    webp = io.BytesIO()
    Image.new("RGB", (30, 30), "blue").save(webp, format="WEBP")
    with Image.open(io.BytesIO(reencode_photo(webp.getvalue(), **LIMITS).data)) as out:
        assert out.format == "JPEG"


@pytest.mark.parametrize(
    "raw",
    [
        b"%PDF-1.7 not a photo",
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        b"",
    ],
)
def test_non_images_are_refused(raw):
    with pytest.raises(InvalidRequest) as refused:
        reencode_photo(raw, **LIMITS)
    assert refused.value.code == "unsupported_photo"


def test_other_formats_are_refused_by_content():
    gif = io.BytesIO()
    Image.new("RGB", (10, 10)).save(gif, format="GIF")
    with pytest.raises(InvalidRequest) as refused:
        reencode_photo(gif.getvalue(), **LIMITS)
    assert refused.value.code == "unsupported_photo"


def test_decompression_bomb_over_our_limit_is_refused_before_decoding():
    bomb = png_bomb(30_000, 30_000)  # 900 megapixels in under a kilobyte
    assert len(bomb) < 1000
    with pytest.raises(InvalidRequest) as refused:
        reencode_photo(bomb, **LIMITS)
    assert refused.value.code == "photo_too_many_pixels"


def test_decompression_bomb_over_pillows_limit_is_refused():
    with pytest.raises(InvalidRequest) as refused:
        reencode_photo(png_bomb(100_000, 100_000), **LIMITS)
    assert refused.value.code == "photo_too_many_pixels"


def test_pixel_limit_is_the_setting():
    with pytest.raises(InvalidRequest) as refused:
        reencode_photo(png_bytes((100, 100)), **{**LIMITS, "max_pixels": 9_999})
    assert refused.value.code == "photo_too_many_pixels"


def test_too_many_bytes_is_refused():
    with pytest.raises(PayloadTooLarge) as refused:
        reencode_photo(jpeg_with_gps(), **{**LIMITS, "max_bytes": 100})
    assert refused.value.code == "photo_too_large"


@pytest.mark.parametrize("cut", [1 / 3, 0.99, 0.02])  # 0.02: inside the header
def test_truncated_photo_is_refused(cut: float):
    raw = jpeg_with_gps((800, 800))
    with pytest.raises(InvalidRequest) as refused:
        reencode_photo(raw[: int(len(raw) * cut)], **LIMITS)
    assert refused.value.code == "corrupt_photo"
