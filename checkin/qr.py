"""QR images of ticket secrets, rendered on demand (never stored).

Every secret has the same length and alphabet, so the QR version is fixed and
so is the mask: qrcode's automatic search tries all eight masks and the
fitting versions, most of the render time. Pixels are then drawn straight
into a one-bit Pillow image instead of through qrcode's image factories.
"""

from __future__ import annotations

import io

import qrcode
from PIL import Image
from qrcode.constants import ERROR_CORRECT_M

from checkin.secrets import SECRET_LENGTH

#: Version 6 (41×41 modules) holds 154 alphanumeric characters at level M.
QR_VERSION = 6
QR_MASK = 2
QUIET_ZONE = 4


def qr_matrix(data: str) -> list[list[bool]]:
    """The module matrix of ``data``, quiet zone included.

    Ticket secrets use the fixed version and mask; anything else (a pairing
    link, say) gets qrcode's automatic fit.
    """
    fixed = len(data) == SECRET_LENGTH
    code = qrcode.QRCode(
        version=QR_VERSION if fixed else None,
        error_correction=ERROR_CORRECT_M,
        border=QUIET_ZONE,
        mask_pattern=QR_MASK if fixed else None,
    )
    code.add_data(data, optimize=0)
    code.make(fit=not fixed)
    return code.get_matrix()


def render_png(data: str, scale: int = 8) -> bytes:
    matrix = qr_matrix(data)
    size = len(matrix)
    # "1"-mode rows are packed bits; white is 1. Build rows as bytes of 0/255
    # in "L" mode then convert: simpler than bit packing and still ~1 ms.
    pixels = bytes(0 if cell else 255 for row in matrix for cell in row)
    image = Image.frombytes("L", (size, size), pixels).convert("1")
    image = image.resize((size * scale, size * scale), Image.Resampling.NEAREST)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()


def render_svg(data: str, scale: int = 8) -> str:
    matrix = qr_matrix(data)
    size = len(matrix)
    path = "".join(
        f"M{x},{y}h1v1h-1z" for y, row in enumerate(matrix) for x, cell in enumerate(row) if cell
    )
    px = size * scale
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" '
        f'width="{px}" height="{px}" shape-rendering="crispEdges">'
        f'<rect width="{size}" height="{size}" fill="#fff"/>'
        f'<path d="{path}" fill="#000"/></svg>'
    )
