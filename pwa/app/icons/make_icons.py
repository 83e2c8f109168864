"""Draw the staff app's icons (run from the repo root after changing them):

    .venv/bin/python pwa/app/icons/make_icons.py

A white tick on a green disc over the app's dark bar colour, with three QR
finder squares; the maskable icon keeps everything inside the 80 % safe zone.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
DARK = (20, 22, 26)
GREEN = (10, 138, 58)
WHITE = (255, 255, 255)


def finder(draw: ImageDraw.ImageDraw, x: float, y: float, size: float) -> None:
    unit = size / 7
    draw.rectangle([x, y, x + size, y + size], fill=WHITE)
    draw.rectangle([x + unit, y + unit, x + size - unit, y + size - unit], fill=DARK)
    draw.rectangle(
        [x + 2 * unit, y + 2 * unit, x + size - 2 * unit, y + size - 2 * unit], fill=WHITE
    )


def icon(size: int, safe: float) -> Image.Image:
    scale = 4  # draw large, shrink: smooth edges without anti-aliasing support
    big = size * scale
    image = Image.new("RGB", (big, big), DARK)
    draw = ImageDraw.Draw(image)
    inset = big * (1 - safe) / 2
    span = big - 2 * inset
    square = span * 0.22
    for x, y in ((inset, inset), (inset + span - square, inset), (inset, inset + span - square)):
        finder(draw, x, y, square)
    cx, cy, r = inset + span * 0.62, inset + span * 0.62, span * 0.34
    draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=GREEN)
    tick = [
        (cx - r * 0.5, cy + r * 0.02),
        (cx - r * 0.12, cy + r * 0.4),
        (cx + r * 0.55, cy - r * 0.38),
    ]
    draw.line(tick, fill=WHITE, width=int(r * 0.2), joint="curve")
    return image.resize((size, size), Image.Resampling.LANCZOS)


def main() -> None:
    icon(192, 0.9).save(HERE / "icon-192.png", optimize=True)
    icon(512, 0.9).save(HERE / "icon-512.png", optimize=True)
    icon(512, 0.72).save(HERE / "icon-maskable-512.png", optimize=True)


if __name__ == "__main__":
    main()
