"""Seed 003's imbalance protocol, adapted to our CWRU files and our leak-free time split.

Per record, the first 2/3 feeds training and the last 1/3 testing, cut BEFORE windowing (DESIGN.md),
so no test window shares a sample with a training window. Training: 3,200 normal windows and 64
(Set 1) or 16 (Set 2) windows per fault class, drawn with a seeded generator; the normal record's
training part holds only 158 disjoint 1,024-sample windows, so its windows overlap (stride reported
in `strides`), while the fault windows are disjoint. Test: 108 windows per class, evenly spaced over
the test part (fixed, identical for every seed); 108 x 1,024 samples exceed every record's last
third, so test windows overlap each other (never a training window). See docs/results/imbalance.md.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from faultedge.data.classes import CLASS_NAMES
from faultedge.data.cwru import load_recordings
from faultedge.data.noise import add_awgn
from faultedge.data.recording import Recording
from faultedge.data.splits import NORMAL_LABEL, SplitSpec, WindowSet, cut_windows, split_point, stack_windows, window_starts
from faultedge.errors import DataError

# minority windows per fault class in each of the paper's training sets (Table II)
SETS: dict[str, int] = {"set1": 64, "set2": 16}
_TEST_NOISE_SEED = 0x7E57  # the test noise is one fixed draw: every seed and method is scored on the same windows


@dataclass(frozen=True)
class ImbalanceSpec:
    """Which windows one imbalanced training run sees; `seed` draws the training windows and their noise."""

    set_name: str = "set1"
    n_normal: int = 3200
    n_test: int = 108  # per class
    window: int = 1024
    train_fraction: float = 2 / 3
    snr_db: float | None = None  # None: noise-free; else AWGN at this SNR on train and test windows
    seed: int = 0

    def __post_init__(self) -> None:
        if self.set_name not in SETS:
            raise DataError(f"unknown imbalance set {self.set_name!r}; the sets are {', '.join(SETS)}")
        if min(self.n_normal, self.n_test, self.window) < 1 or not 0 < self.train_fraction < 1:
            raise DataError(f"imbalance spec: counts and window must be >= 1 and the train fraction in (0, 1), got {self}")

    @property
    def n_fault(self) -> int:
        return SETS[self.set_name]

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ImbalanceData:
    """Standardised windows (divided by the training windows' standard deviation) and how they were cut."""

    train: WindowSet
    test: WindowSet
    boundaries: np.ndarray  # per record: first sample of its test part
    strides: dict[str, int]  # per record name: the training windows' grid stride
    scale: float  # the training windows' standard deviation (inputs are divided by it)

    @property
    def counts(self) -> np.ndarray:
        """Training windows per class (the loss thresholds and costs come from these)."""
        return np.bincount(self.train.y, minlength=len(CLASS_NAMES))


def _train_stride(segment: int, n: int, window: int) -> int:
    """Disjoint windows when the segment holds `n` of them, else the widest stride that still gives `n`."""
    last = segment - window
    if last < 0 or last // n < 1:
        raise DataError(f"a training segment of {segment} samples cannot hold {n} windows of {window}")
    return window if last // window + 1 >= n + 1 else last // n


def _evenly_spaced(segment: int, n: int, window: int, source: str) -> np.ndarray:
    last = segment - window
    if last < 0:
        raise DataError(f"{source}: test part of {segment} samples is shorter than one {window}-sample window")
    return np.round(np.linspace(0, last, n)).astype(np.int64)


def make_imbalanced(recordings: list[Recording], spec: ImbalanceSpec) -> ImbalanceData:
    """Cut every record in time, draw the imbalanced training windows and the fixed test windows."""
    labels = sorted(r.label for r in recordings)
    if labels != list(range(len(CLASS_NAMES))):
        raise DataError(f"the imbalance protocol needs one record per class 0..{len(CLASS_NAMES) - 1}, got labels {labels}")
    rng = np.random.default_rng([spec.seed, 0x1B])
    train, test, boundaries, strides = [], [], [], {}
    for i, rec in enumerate(recordings):
        length = rec.signal.shape[-1]
        cut = split_point(length, spec.train_fraction)
        n = spec.n_normal if rec.label == NORMAL_LABEL else spec.n_fault
        stride = _train_stride(cut, n, spec.window)
        starts = window_starts(cut, n, SplitSpec(window=spec.window, stride=stride), rng, rec.name)
        test_starts = cut + _evenly_spaced(length - cut, spec.n_test, spec.window, rec.name)
        for part, st in ((train, starts), (test, test_starts)):
            part.append((cut_windows(rec.signal, st, spec.window), np.full(st.size, rec.label), np.full(st.size, i), st))
        boundaries.append(cut)
        strides[rec.name] = stride
    tr, te = stack_windows(train), stack_windows(test)
    if spec.snr_db is not None:
        tr.x = add_awgn(tr.x, spec.snr_db, np.random.default_rng([spec.seed, 0xA1]))
        te.x = add_awgn(te.x, spec.snr_db, np.random.default_rng(_TEST_NOISE_SEED))
    scale = float(tr.x.std())
    tr.x /= scale
    te.x /= scale
    return ImbalanceData(tr, te, np.asarray(boundaries), strides, scale)


def load_imbalanced(data_dir: Path | str, spec: ImbalanceSpec, recordings: list[Recording] | None = None) -> ImbalanceData:
    """The protocol on the 0 hp CWRU files of `data_dir` (the only load with a normal record);
    pass `recordings` to reuse files already read."""
    return make_imbalanced(recordings if recordings is not None else load_recordings(data_dir, (0,)), spec)
