"""From a data specification to noisy train/val/test windows, reproducibly.

Validation and test noise is drawn once from fixed seeds, so every stage and every model of a
run is scored on the very same noisy windows. Training noise can be redrawn each epoch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from faultedge.data.cwru import load_recordings
from faultedge.data.noise import add_awgn
from faultedge.data.recording import Recording
from faultedge.data.splits import SplitSpec, Splits, WindowSet, make_splits
from faultedge.data.synthetic import synthesize_recordings
from faultedge.errors import DataError

SYNTHETIC = "synthetic"


@dataclass(frozen=True)
class DataSpec:
    """Everything that determines the windows a run trains and is tested on."""

    source: str = SYNTHETIC  # "synthetic" or a CWRU data directory
    loads: tuple[int, ...] = (0,)
    snr_db: float | None = -6.0  # None = noise-free
    split: SplitSpec = field(default_factory=SplitSpec)
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["loads"] = list(self.loads)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "DataSpec":
        try:
            return cls(
                source=str(d["source"]),
                loads=tuple(int(x) for x in d["loads"]),
                snr_db=None if d["snr_db"] is None else float(d["snr_db"]),
                split=SplitSpec(**d["split"]),
                seed=int(d["seed"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"data spec: missing or malformed field ({exc})") from None

    def with_loads(self, loads: tuple[int, ...]) -> "DataSpec":
        return replace(self, loads=loads)


def load_source(spec: DataSpec) -> list[Recording]:
    """Recordings of the spec's loads, from the synthetic generator or a CWRU directory."""
    if spec.source == SYNTHETIC:
        return [r for load in spec.loads for r in synthesize_recordings(load, seed=spec.seed)]
    return load_recordings(Path(spec.source), spec.loads)


class Dataset:
    """Clean windows of a run plus the noise protocol that turns them into model inputs."""

    def __init__(self, spec: DataSpec, recordings: list[Recording] | None = None) -> None:
        self.spec = spec
        self.recordings = recordings if recordings is not None else load_source(spec)
        self.splits: Splits = make_splits(self.recordings, spec.split, spec.seed)

    @property
    def labels(self) -> np.ndarray:
        return np.unique(self.splits.train.y)

    def noise_rng(self, part: str, tag: int = 0) -> np.random.Generator:
        """The generator of `part`'s noise; the same draws scaled to any SNR, so SNRs compare paired."""
        return np.random.default_rng([self.spec.seed, {"train": 1, "val": 2, "test": 3}[part], tag])

    def noisy(self, part: str, snr_db: float | None = None, tag: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Windows of `part` ("train", "val" or "test") with seeded noise at `snr_db` (the spec's by default)."""
        ws: WindowSet = getattr(self.splits, part)
        snr = self.spec.snr_db if snr_db is None else snr_db
        return add_awgn(ws.x, snr, self.noise_rng(part, tag)), ws.y
