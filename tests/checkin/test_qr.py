"""QR images decode back to the secret (read with zxing-cpp)."""

from __future__ import annotations

import io

import zxingcpp
from PIL import Image

from checkin.qr import QR_VERSION, qr_matrix, render_png, render_svg
from checkin.secrets import Signer, TicketClaims, generate_key


def make_secret() -> str:
    key = generate_key(1)
    return Signer(1, key.private).sign(TicketClaims(1, 42, 1, 1, None, None, 1))


def test_png_decodes_to_the_secret():
    secret = make_secret()
    image = Image.open(io.BytesIO(render_png(secret)))
    assert image.format == "PNG"
    [found] = zxingcpp.read_barcodes(image)
    assert found.text == secret


def test_fixed_version_for_secrets():
    secret = make_secret()
    assert len(qr_matrix(secret)) == 17 + 4 * QR_VERSION + 2 * 4


def test_other_text_fits_automatically():
    link = "http://127.0.0.1:8000/app/#pair=ABCDEFGH&event=1"
    image = Image.open(io.BytesIO(render_png(link, scale=6)))
    [found] = zxingcpp.read_barcodes(image)
    assert found.text == link


def test_svg_is_a_drawing_of_the_same_matrix():
    secret = make_secret()
    svg = render_svg(secret)
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    dark = sum(cell for row in qr_matrix(secret) for cell in row)
    assert svg.count("h1v1h-1z") == dark
