"""How the safety gate reads a file as text: which encoding, and whether it is text at all.

A file is read as UTF-16 when it starts with a UTF-16 byte-order mark, or when its first bytes hold
zero bytes in every other place (ASCII text in UTF-16 without a mark: ``h\\0f\\0_\\0``); as UTF-8
otherwise. A file whose first bytes hold a NUL byte is binary (git's rule) unless they are valid
UTF-8 with few control characters: a text file with a stray NUL is still text, and the gate scans
the printable runs between its NULs (:func:`blank_controls`). Compressed or random bytes are not
valid UTF-8 for long, so images and archives stay binary and cost nothing.
"""

from __future__ import annotations

import codecs
import re
from typing import Literal

TextEncoding = Literal["utf-8", "utf-16", "utf-16-le", "utf-16-be"]

#: Of the first bytes, the share of zero bytes in the odd (or even) places that marks UTF-16 text.
_UTF16_ZEROS = 0.4
#: The share of control bytes (NUL included, tab and line breaks not) above which bytes are binary.
_MAX_CONTROLS = 0.1
#: Control characters other than tab and line breaks, each read as a space: it keeps line numbers and
#: separates the printable runs around it.
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def text_encoding(head: bytes) -> TextEncoding | None:
    """The encoding to read a file in, from its first bytes; None for a binary file."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"  # the decoder reads the mark, and drops it
    if b"\0" not in head:
        return "utf-8"
    if len(head) >= 2:
        even, odd = head[0::2], head[1::2]
        if odd.count(0) >= _UTF16_ZEROS * len(odd) and even.count(0) < _UTF16_ZEROS * len(even) / 4:
            return "utf-16-le" if _is_printable(head, "utf-16-le") else None
        if even.count(0) >= _UTF16_ZEROS * len(even) and odd.count(0) < _UTF16_ZEROS * len(odd) / 4:
            return "utf-16-be" if _is_printable(head, "utf-16-be") else None
    return "utf-8" if _is_printable(head, "utf-8") else None


def _is_printable(head: bytes, encoding: TextEncoding) -> bool:
    """Whether ``head`` decodes (an incomplete character at the end aside) to text with few control characters.

    Numbers stored as 16-bit integers have zero bytes in every other place too; as UTF-16 they read
    as control characters, and are not text.
    """
    try:
        text = codecs.getincrementaldecoder(encoding)().decode(head)
    except UnicodeDecodeError:
        return False
    return len(_CONTROLS.findall(text)) <= _MAX_CONTROLS * len(text)


def blank_controls(text: str) -> str:
    """``text`` with NULs and other control characters (not tab or line breaks) read as spaces."""
    return _CONTROLS.sub(" ", text)


__all__ = ["TextEncoding", "blank_controls", "text_encoding"]
