"""Board profiles as data: `faultedge/boards/<kind>/<name>.toml`.

Two kinds: `edge` (CPU boards that run the ONNX Runtime bundle) and `fpga` (boards the
accelerator is built for). Each consumer interprets its own kind's fields; this module only
finds, parses and names them, so a typo in --board gets the list of valid names.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from faultedge.errors import FaultedgeError

KINDS = ("edge", "fpga")


def _dir(kind: str) -> Path:
    if kind not in KINDS:
        raise ValueError(f"unknown board kind {kind!r}")
    return Path(str(resources.files("faultedge.boards") / kind))


def list_boards(kind: str) -> list[str]:
    return sorted(p.stem for p in _dir(kind).glob("*.toml"))


def board_file(kind: str, filename: str) -> Path:
    """A file that belongs to a board profile (pin constraints, ...), next to its .toml."""
    return _dir(kind) / filename


def load_board(kind: str, name: str) -> dict[str, Any]:
    """The parsed profile, with its `name`; an unknown name lists the known ones."""
    path = _dir(kind) / f"{name}.toml"
    if not path.is_file():
        raise FaultedgeError(f"unknown {kind} board {name!r}; known: {', '.join(list_boards(kind)) or 'none'}")
    try:
        profile = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise FaultedgeError(f"{path}: malformed board profile ({exc})") from None
    profile["name"] = name
    return profile
