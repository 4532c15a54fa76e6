"""Small helpers for on-screen text."""

from __future__ import annotations


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """``count`` with thousands separators and ``noun`` in the right number: "1 word", "2,041 words"."""
    return f"{count:,} {noun if count == 1 else plural or noun + 's'}"
