"""Finished points by content hash (RUN/sweep/cache/<hash>.json), so a repeated sweep costs nothing.

The hash (faultedge.sweep.points.point_key) covers everything a result depends on, so an entry
is never stale: a changed IR, tool or generator gives a new hash, and the old entry just stays
unused. A point that raised (status "failed") is not cached, because the cause may be passing (a
killed tool, a full disk); a verdict of the tools (no fit, timing not met) is cached, and so is a
point that ran past its place-and-route budget ("timeout"): the budget is part of the key, so a
larger --pnr-budget-min tries it again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from faultedge.runs import read_json, write_json

UNCACHED = ("failed", "cancelled", "pending")


class ResultCache:
    def __init__(self, root: Path) -> None:
        self.root = root

    def get(self, key: str) -> dict[str, Any] | None:
        path = self.root / f"{key}.json"
        return read_json(path) if path.is_file() else None

    def put(self, key: str, record: dict[str, Any]) -> None:
        if record["status"] not in UNCACHED:
            write_json(self.root / f"{key}.json", record)
