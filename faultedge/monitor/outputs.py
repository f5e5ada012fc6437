"""Where the monitor's events go. JSON lines: one object per line, to stdout or a file, flushed on
every state change so a reader following the file sees alarms at once."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Protocol, TextIO

EVENTS = ("all", "changes")  # every hop's event too, or only alarm raises, moves and clears


class Output(Protocol):
    def emit(self, event: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


class JsonLines:
    def __init__(self, path: Path | None = None, events: str = "all") -> None:
        self.events = events
        self._own = path is not None
        self._f: TextIO = open(path, "w", encoding="utf-8") if path is not None else sys.stdout

    def emit(self, event: dict[str, Any]) -> None:
        if event["type"] == "hop" and self.events != "all":
            return
        self._f.write(json.dumps(event, separators=(",", ":")) + "\n")
        if event["type"] != "hop":
            self._f.flush()

    def close(self) -> None:
        self._f.flush()
        if self._own:
            self._f.close()
