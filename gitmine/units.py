"""Bytes as people read them in summaries and reports."""

from __future__ import annotations


def mb(n: float) -> str:
    """``0.31 MB`` below 10 MB (a small image's changes stay visible), ``412 MB`` above."""
    return f"{n / 1e6:.2f} MB" if n < 1e7 else f"{n / 1e6:.0f} MB"


def mb_delta(n: float) -> str:
    """A change in bytes, signed: ``-0.31 MB`` (fewer), ``+1.20 MB`` (more)."""
    return ("+" if n > 0 else "-" if n < 0 else "") + mb(abs(n))
