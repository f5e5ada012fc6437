"""Plain aligned text tables, for the terminal and the step summaries."""

from __future__ import annotations

from typing import Any, Iterable


def format_table(rows: Iterable[dict[str, Any]], columns: list[tuple[str, str]]) -> list[str]:
    """A plain aligned text table, one string per line; columns are (key, header)."""
    rows = list(rows)
    cells = [[h for _, h in columns]] + [[_fmt(r.get(k)) for k, _ in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = []
    for n, row in enumerate(cells):
        lines.append("  ".join(c.rjust(w) if n and i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines


def print_table(rows: Iterable[dict[str, Any]], columns: list[tuple[str, str]]) -> None:
    print("\n".join(format_table(rows, columns)))


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.2f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)
