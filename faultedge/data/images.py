"""Wavelet-image data sets for MKW-Net and dataset distillation: robot currents or CWRU vibration.

Windows come from the shared protocol (`make_splits`: every record cut in time before
windowing, so no test window shares a sample with training), get seeded white noise when an
SNR is given, become CWT images, and are ZCA-whitened with statistics of the training images.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from faultedge.data.classes import CLASS_NAMES
from faultedge.data.cwru import FS_HZ as CWRU_FS_HZ
from faultedge.data.cwru import load_recordings
from faultedge.data.cwt import CWTSpec, ZCAWhitening, cwt_images
from faultedge.data.noise import add_awgn
from faultedge.data.robot import FS_HZ as ROBOT_FS_HZ
from faultedge.data.robot import ROBOT_CLASS_NAMES, synthesize_robot_recordings
from faultedge.data.splits import SplitSpec, make_splits
from faultedge.errors import DataError

ROBOT = "robot"
PARTS = ("train", "val", "test")


def default_cwt(source: str) -> CWTSpec:
    """Robot: 1 s windows, 2-480 Hz (task motion to gear mesh). CWRU: 2048 samples, 50 Hz-5.5 kHz (shaft to housing modes)."""
    if source == ROBOT:
        return CWTSpec(fs_hz=ROBOT_FS_HZ, window=1024, f_min_hz=2.0, f_max_hz=480.0)
    return CWTSpec(fs_hz=CWRU_FS_HZ, window=2048, f_min_hz=50.0, f_max_hz=5500.0)


def default_augment(source: str) -> str:
    """DSA ops for distillation and small-set training, chosen on the validation split (MKW-Net on a
    random 50-per-class subset): drive currents gain from every op; CWRU bearing images only from
    the time shift (a level change or a stretch hides the fault energy and impact period at -6 dB)."""
    return "level,shift,stretch,cutout" if source == ROBOT else "shift"


def default_split(source: str, n_train: int = 500, n_val: int = 250, n_test: int = 250) -> SplitSpec:
    """Robot records are 200 s long: a stride of 1/8 s leaves room for 750 + 250 windows per class."""
    stride = 128 if source == ROBOT else SplitSpec.stride
    return SplitSpec(window=default_cwt(source).window, n_train=n_train, n_val=n_val, n_test=n_test, stride=stride)


@dataclass(frozen=True)
class ImageDataSpec:
    """Everything that determines a run's images: source, windows, noise, CWT and whitening."""

    source: str = ROBOT  # "robot" (synthetic, embedded) or a CWRU data directory (0 hp files)
    snr_db: float | None = None  # added white noise; None keeps the windows as they are
    split: SplitSpec = field(default_factory=lambda: default_split(ROBOT))
    cwt: CWTSpec = field(default_factory=lambda: default_cwt(ROBOT))
    seed: int = 0
    zca_eps: float = 0.1

    def __post_init__(self) -> None:
        if self.split.window != self.cwt.window:
            raise DataError(f"image data: split windows ({self.split.window}) and CWT windows ({self.cwt.window}) differ")

    @classmethod
    def for_source(cls, source: str, seed: int = 0, snr_db: float | None = None, **counts: int) -> "ImageDataSpec":
        return cls(source, snr_db, default_split(source, **counts), default_cwt(source), seed)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "split": self.split.to_dict(), "cwt": self.cwt.to_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ImageDataSpec":
        try:
            return cls(
                source=str(d["source"]),
                snr_db=None if d["snr_db"] is None else float(d["snr_db"]),
                split=SplitSpec(**d["split"]),
                cwt=CWTSpec.from_dict(d["cwt"]),
                seed=int(d["seed"]),
                zca_eps=float(d["zca_eps"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"image data spec: missing or malformed field ({exc})") from None


@dataclass
class ImageSets:
    """Whitened images (N, C, H, W) float32 and labels per part, and how they were made."""

    train: tuple[np.ndarray, np.ndarray]
    val: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray]
    class_names: tuple[str, ...]
    whitening: ZCAWhitening

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train[0].shape[1:])


def class_names_for(source: str) -> tuple[str, ...]:
    return ROBOT_CLASS_NAMES if source == ROBOT else CLASS_NAMES


def build_image_sets(spec: ImageDataSpec, whitening: ZCAWhitening | None = None, progress: bool = False) -> ImageSets:
    """Images of every part; fits the ZCA on the training images unless a saved one is given."""
    if spec.source == ROBOT:
        recordings = synthesize_robot_recordings(seed=spec.seed)
    else:
        recordings = load_recordings(Path(spec.source), loads=(0,))
    splits = make_splits(recordings, spec.split, spec.seed)
    raw = {}
    for i, part in enumerate(PARTS, start=1):
        ws = getattr(splits, part)
        noisy = add_awgn(ws.x, spec.snr_db, np.random.default_rng([spec.seed, i, 0]))
        raw[part] = (cwt_images(noisy, spec.cwt, progress), ws.y)
    whitening = whitening or ZCAWhitening.fit(raw["train"][0], spec.zca_eps)
    sets = {part: (whitening(x, f"{part} images"), y) for part, (x, y) in raw.items()}
    return ImageSets(sets["train"], sets["val"], sets["test"], class_names_for(spec.source), whitening)
