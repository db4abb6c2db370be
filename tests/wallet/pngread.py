"""A minimal PNG reader (greyscale, non-interlaced; what segno writes) for the QR tests: the
project has no imaging library, and the point is to decode the very file the wallet wrote."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def read_grey(path: Path) -> tuple[int, int, bytes]:
    """Width, height and one byte per pixel (0 black … 255 white)."""
    data = path.read_bytes()
    assert data.startswith(SIGNATURE), "not a PNG file"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        chunk = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    assert header is not None
    width, height, depth, colour, _compression, _filter, interlace = header
    assert colour == 0, "greyscale expected"
    assert interlace == 0
    assert depth in (1, 8)
    stride = (width * depth + 7) // 8
    raw = zlib.decompress(idat)
    previous = bytearray(stride)
    pixels = bytearray()
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - 1] if x else 0
            b = previous[x]
            c = previous[x - 1] if x else 0
            line[x] = (line[x] + (0, a, b, (a + b) // 2, _paeth(a, b, c))[kind]) & 0xFF
        previous = line
        if depth == 8:
            pixels += line
        else:
            for x in range(width):
                bit = (line[x // 8] >> (7 - x % 8)) & 1
                pixels.append(255 if bit else 0)
    return width, height, bytes(pixels)
