"""Time-frequency images: a PyWavelets CWT of each window, pooled to size x size, then ZCA-whitened.

Rows are log-spaced analysis frequencies from `f_max_hz` (top) down to `f_min_hz`; the scales
are `pywt.frequency2scale(wavelet, f / fs)`. Columns average |CWT| over `window / size`
consecutive samples. Each window is first detrended (its least-squares line removed): a
robot's load current or a sensor offset would otherwise swamp the low rows with edge effects.
The default wavelet is the complex Morlet 'cmor1.5-1.0': its modulus is
a smooth envelope, whereas the real 'morl' oscillates at the analysis frequency and leaves
stripes after pooling. ZCA whitening (seed 000 §4.1) is fitted per channel on training images
only and saved with the model; note its cost at inference: (size^2)^2 MACs per channel.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pywt
from scipy.signal import detrend
from tqdm.auto import tqdm

from faultedge.data.recording import check_finite
from faultedge.errors import DataError
from faultedge.runs import atomic_path


@dataclass(frozen=True)
class CWTSpec:
    """How a window (channels, window) becomes an image (channels, size, size)."""

    fs_hz: float
    window: int
    f_min_hz: float
    f_max_hz: float
    wavelet: str = "cmor1.5-1.0"
    size: int = 32
    log_magnitude: bool = True  # log(|CWT| + 1e-8): fault lines and load currents differ by decades

    def __post_init__(self) -> None:
        if self.window % self.size:
            raise DataError(f"CWT: window of {self.window} samples does not split into {self.size} equal time bins")
        if not 0 < self.f_min_hz < self.f_max_hz < self.fs_hz / 2:
            raise DataError(f"CWT: need 0 < f_min ({self.f_min_hz}) < f_max ({self.f_max_hz}) < fs/2 ({self.fs_hz / 2})")
        try:
            pywt.ContinuousWavelet(self.wavelet)
        except ValueError:
            raise DataError(f"CWT: {self.wavelet!r} is not a PyWavelets continuous wavelet (see pywt.wavelist(kind='continuous'))") from None

    @property
    def frequencies_hz(self) -> np.ndarray:
        return np.geomspace(self.f_max_hz, self.f_min_hz, self.size)

    @property
    def scales(self) -> np.ndarray:
        return pywt.frequency2scale(self.wavelet, self.frequencies_hz / self.fs_hz)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "scales": self.scales.tolist()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "CWTSpec":
        try:
            return cls(**{k: d[k] for k in ("fs_hz", "window", "f_min_hz", "f_max_hz", "wavelet", "size", "log_magnitude")})
        except (KeyError, TypeError) as exc:
            raise DataError(f"CWT spec: missing or malformed field ({exc})") from None


def cwt_images(windows: np.ndarray, spec: CWTSpec, progress: bool = False, chunk: int = 64) -> np.ndarray:
    """Images (N, C, size, size) float32 of windows (N, window) or (N, C, window)."""
    x = np.asarray(windows)
    if x.ndim == 2:
        x = x[:, None, :]
    if x.ndim != 3 or x.shape[-1] != spec.window:
        raise DataError(f"CWT: expected windows (N, {spec.window}) or (N, C, {spec.window}), got shape {x.shape}")
    check_finite(x, "CWT input windows")
    n, c, _ = x.shape
    flat = detrend(x.reshape(n * c, spec.window), axis=-1).astype(np.float32)
    out = np.empty((n * c, spec.size, spec.size), dtype=np.float32)
    for i in tqdm(range(0, len(flat), chunk), desc="CWT", unit="chunk", disable=not progress, leave=False):
        coef, _ = pywt.cwt(flat[i : i + chunk], spec.scales, spec.wavelet, method="fft", axis=-1)
        mag = np.abs(coef).reshape(spec.size, -1, spec.size, spec.window // spec.size).mean(-1)  # (scale, n, time bin)
        out[i : i + chunk] = np.log(mag + 1e-8).transpose(1, 0, 2) if spec.log_magnitude else mag.transpose(1, 0, 2)
    return out.reshape(n, c, spec.size, spec.size)


@dataclass
class ZCAWhitening:
    """Per-channel ZCA: (x - mean) @ W with W = U diag(1 / sqrt(lambda / s + eps)) U^T / sqrt(s).

    s is the mean pixel variance, so `eps` is relative (MTT uses 0.1 on standardised images).
    """

    mean: np.ndarray  # (C, D) float64, D = size * size
    matrix: np.ndarray  # (C, D, D) float64, symmetric

    @classmethod
    def fit(cls, images: np.ndarray, eps: float = 0.1) -> "ZCAWhitening":
        x = _validate_images(images, "ZCA training images")
        n, c = x.shape[:2]
        flat = x.reshape(n, c, -1).astype(np.float64)
        mean = flat.mean(0)
        mats = []
        for ch in range(c):
            centred = flat[:, ch] - mean[ch]
            cov = centred.T @ centred / n
            s = max(float(np.trace(cov)) / cov.shape[0], 1e-12)
            lam, u = np.linalg.eigh(cov)
            mats.append((u / np.sqrt(np.clip(lam, 0, None) / s + eps)) @ u.T / np.sqrt(s))
        return cls(mean, np.stack(mats))

    def __call__(self, images: np.ndarray, source: str = "images") -> np.ndarray:
        x = _validate_images(images, source)
        c, d = self.mean.shape
        if x.shape[1] != c or x.shape[2] * x.shape[3] != d:
            raise DataError(f"{source}: images of shape {x.shape[1:]} do not fit a whitening fitted on ({c}, {d}) pixels")
        flat = x.reshape(len(x), c, d) - self.mean
        return np.einsum("ncd,cde->nce", flat, self.matrix).reshape(x.shape).astype(np.float32)

    def save(self, path: Path | str) -> None:
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, mean=self.mean, matrix=self.matrix)

    @classmethod
    def load(cls, path: Path | str) -> "ZCAWhitening":
        try:
            with np.load(path, allow_pickle=False) as z:
                mean, matrix = z["mean"], z["matrix"]
        except (OSError, KeyError, ValueError) as exc:
            raise DataError(f"{path}: not a ZCA whitening file ({exc})") from None
        if matrix.ndim != 3 or matrix.shape[:2] != mean.shape or matrix.shape[1] != matrix.shape[2]:
            raise DataError(f"{path}: inconsistent ZCA shapes mean {mean.shape}, matrix {matrix.shape}")
        return cls(mean, matrix)


def _validate_images(images: np.ndarray, source: str) -> np.ndarray:
    x = np.asarray(images)
    if x.ndim != 4 or x.shape[2] != x.shape[3]:
        raise DataError(f"{source}: expected square images (N, C, H, W), got shape {x.shape}")
    check_finite(x, source)
    return x
