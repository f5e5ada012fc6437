"""The 10-class label space of the CWRU 12 kHz drive-end benchmark.

Real and synthetic data share it, so a model trained on one can be evaluated on the other.
"""

from __future__ import annotations

from typing import Final

# (fault type, fault diameter in inches) for each class index, in the conventional CWRU order.
CLASS_SPECS: Final[tuple[tuple[str, float], ...]] = (
    ("normal", 0.0),
    ("ball", 0.007),
    ("ball", 0.014),
    ("ball", 0.021),
    ("inner_race", 0.007),
    ("inner_race", 0.014),
    ("inner_race", 0.021),
    ("outer_race_@6", 0.007),
    ("outer_race_@6", 0.014),
    ("outer_race_@6", 0.021),
)

_SHORT = {"normal": "N", "ball": "B", "inner_race": "IR", "outer_race_@6": "OR"}


def _name(fault: str, size: float) -> str:
    if fault == "normal":
        return "normal"
    code = f"{_SHORT[fault]}{round(size * 1000):03d}"
    return code + "@6" if fault == "outer_race_@6" else code


CLASS_NAMES: Final[tuple[str, ...]] = tuple(_name(f, s) for f, s in CLASS_SPECS)
NUM_CLASSES: Final[int] = len(CLASS_NAMES)


def class_index(fault_type: str, size_inch: float) -> int:
    """Map a (fault type, diameter) pair to its class index, or raise KeyError naming the pair."""
    for i, (fault, size) in enumerate(CLASS_SPECS):
        if fault == fault_type and (fault == "normal" or abs(size - size_inch) < 1e-6):
            return i
    raise KeyError(f"no class for fault type {fault_type!r} with diameter {size_inch} in")
