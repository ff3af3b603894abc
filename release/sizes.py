"""Byte counts for people: one style everywhere, binary units (``512 bytes``, ``1.5 KiB``, ``4.0 GiB``)."""

from __future__ import annotations

_UNITS = (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10))


def format_size(size: int) -> str:
    """``size`` bytes for people: whole bytes below 1 KiB, else one decimal in the largest unit that fits."""
    for unit, scale in _UNITS:
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"
