"""Argument types and printing shared by the subcommands."""

from __future__ import annotations

import argparse
from typing import Any, Iterable


def snr_arg(text: str) -> float | None:
    """An SNR in dB, or 'none' for noise-free windows."""
    if text.lower() in ("none", "clean", "inf"):
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an SNR in dB or 'none', got {text!r}") from None


def loads_arg(text: str) -> tuple[int, ...]:
    """A comma-separated list of motor loads in hp, e.g. '0' or '0,1'."""
    try:
        loads = tuple(int(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected loads like '0' or '0,1', got {text!r}") from None
    if any(not 0 <= x <= 3 for x in loads):
        raise argparse.ArgumentTypeError(f"CWRU loads are 0..3 hp, got {text!r}")
    return loads


def print_table(rows: Iterable[dict[str, Any]], columns: list[tuple[str, str]]) -> None:
    """A plain aligned text table; columns are (key, header)."""
    rows = list(rows)
    cells = [[h for _, h in columns]] + [[_fmt(r.get(k)) for k, _ in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    for n, row in enumerate(cells):
        print("  ".join(c.rjust(w) if n and i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if n == 0:
            print("  ".join("-" * w for w in widths))


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.2f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)
