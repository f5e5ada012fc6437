"""Library versions recorded with every artifact, read without importing the libraries."""

from __future__ import annotations

import platform
from importlib import metadata

import faultedge


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def versions() -> dict[str, str]:
    return {"faultedge": faultedge.__version__, "torch": _version("torch"), "numpy": _version("numpy"), "python": platform.python_version()}
