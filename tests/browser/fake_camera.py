"""Chromium's fake camera fed a video we write: QR codes (drawn by
``checkin.qr``) as YUV4MPEG2 frames, which Chromium plays in a loop at the
file's frame rate. Used by the camera tests and by ``bench/door_verdict.py``.
"""

from __future__ import annotations

from pathlib import Path

from checkin.qr import qr_matrix
from tests.browser.conftest import CHROMIUM_ARGS

WHITE, BLACK, GREY = b"\xeb", b"\x10", b"\x80"  # video range luma; neutral chroma


def qr_frame(text: str, width: int, height: int) -> bytes:
    """One frame's luma plane: ``text``'s QR code, centred, on white."""
    matrix = qr_matrix(text)
    scale = min(width, height) * 9 // 10 // len(matrix)
    side = scale * len(matrix)
    left, top = (width - side) // 2, (height - side) // 2
    luma = bytearray(WHITE * (width * height))
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            if not dark:
                continue
            for dy in range(scale):
                start = (top + y * scale + dy) * width + left + x * scale
                luma[start : start + scale] = BLACK * scale
    return bytes(luma)


def write_qr_video(
    path: Path,
    codes: list[str],
    *,
    width: int = 640,
    height: int = 480,
    fps: int = 10,
    code_frames: int = 10,
    blank_frames: int = 0,
) -> None:
    """Each of ``codes`` for ``code_frames`` frames, each after ``blank_frames``
    blank (white) frames, in YUV4MPEG2 C420."""
    blank = WHITE * (width * height)
    chroma = GREY * (width * height // 4)
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420\n".encode())
        for text in codes:
            luma = qr_frame(text, width, height)
            for frame in [blank] * blank_frames + [luma] * code_frames:
                out.write(b"FRAME\n")
                out.write(frame)
                out.write(chroma)
                out.write(chroma)


def camera_args(video: Path) -> list[str]:
    """Chromium's arguments for a fake camera showing ``video``, allowed without asking."""
    return [
        *CHROMIUM_ARGS,
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
    ]
