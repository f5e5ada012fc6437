"""A labelled vibration recording: what every data source produces and the splitter consumes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from faultedge.errors import DataError


@dataclass(frozen=True)
class Recording:
    """One continuous drive-end acceleration record of a single machine state."""

    name: str  # file name or synthetic identifier, used in error messages
    label: int  # class index into faultedge.data.classes.CLASS_NAMES
    load_hp: int
    rpm: float
    fs_hz: float
    signal: np.ndarray  # float64, shape (n_samples,), or (channels, n_samples) for multi-axis records

    def __post_init__(self) -> None:
        check_finite(self.signal, self.name)


def check_finite(signal: np.ndarray, source: str) -> None:
    """Reject NaN/Inf samples with the count and the first position, before they poison an FFT."""
    bad = ~np.isfinite(signal)
    if bad.any():
        first = np.unravel_index(int(np.argmax(bad)), signal.shape)
        where = first[0] if len(first) == 1 else first
        raise DataError(f"{source}: {int(bad.sum())} non-finite (NaN/Inf) sample(s), first at index {where}")
