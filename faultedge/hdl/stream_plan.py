"""What every engine's plan shares: its streams, its cycle phases and the checks every engine makes.

Pure Python (no Amaranth): the generators, the cycle model (faultedge.hdl.cycles), the board
tops and the host protocol all read these numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from faultedge.errors import IRError
from faultedge.ir import is_pow2


@dataclass(frozen=True)
class StreamPlan:
    """The stream widths of an engine (its ports and the host protocol) and the figures its cycle model needs.

    Subclasses give `cycle_phases()` (every phase of one inference with its exact cycles, in order),
    `lane_macs` (the MACs the P lanes do) and `double_buffered` (the next input streams in while
    the current one is computed)."""

    lanes: int
    beat: int
    n_inputs: int
    input_bits: int
    input_signed: bool
    n_classes: int
    logit_bits: int

    double_buffered = False

    def cycle_phases(self) -> list[tuple[str, int]]:
        raise NotImplementedError

    @property
    def lane_macs(self) -> int:
        raise NotImplementedError


def class_bits(n_classes: int) -> int:
    """Width of a class index."""
    return max(1, math.ceil(math.log2(n_classes)))


def check_lanes(lanes: int) -> None:
    if not is_pow2(lanes):
        raise IRError(f"lanes must be a power of two >= 1, got {lanes}")
