"""Window -> feature preprocessing, with ONE specification that every consumer follows.

Training, the ONNX predictor, the bundle runner and the hardware front end all read a
`Preprocessing` (saved as preprocessing.json in the run directory) instead of re-deriving it.
The feature is the references': |FFT(window, norm="forward")| of a 2048-sample window, upper
half of the 2048 bins (bins 1024, 1023, ..., 1: the mirror image of bins 1..1024), then
standardised per bin with statistics fitted on training windows only.

`fft+envelope` (issue 19) keeps the input length and gives half of it to the squared-envelope
spectrum, the bearing analyst's tool for defect rates: |FFT(x^2 - mean(x^2))| bins 1..L/4 (0 to
fs/4: the defect rates and their harmonics), after the spectrum with each pair of bins averaged
(bins 1024+1023, ..., 2+1, over 2). Its spec is version 2; the bundle runner, the ONNX graphs and
the integer front end's golden model (faultedge.ir.frontend) and both hardware front ends
(faultedge.hdl.frontend) compute it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from faultedge.data.recording import check_finite
from faultedge.errors import DataError

# What a window becomes, with its preprocessing.json version and the transform string saved there.
FEATURES = {"fft": (1, "abs(fft(window, norm='forward'))[window//2 : 0 : -1]"),
            "fft+envelope": (2, "mean of bin pairs of abs(fft(window, norm='forward'))[window//2 : 0 : -1], then "
                                "abs(fft(window**2 - mean(window**2), norm='forward'))[1 : window//4 + 1]")}
SPEC_VERSIONS = {version: kind for kind, (version, _) in FEATURES.items()}
# How the standardisation divides: "bin", each bin by its own std (the references'); "global", every bin by one
# std per block of the features (the spectrum; the envelope spectrum), so a spectrum keeps its shape across bins
# and a quiet bin's noise is not scaled up to a fault band's size.
SCALES = ("bin", "global")


def validate_windows(x: np.ndarray, window: int, source: str = "input") -> np.ndarray:
    """Accept (L,) or (N, L) real windows of the right length; reject anything else clearly."""
    x = np.asarray(x)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise DataError(f"{source}: expected windows of shape (N, {window}), got shape {x.shape}")
    if x.shape[1] != window:
        raise DataError(f"{source}: windows must have {window} samples, got {x.shape[1]}")
    if not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
        raise DataError(f"{source}: windows must be real numbers, got dtype {x.dtype}")
    check_finite(x, source)
    return x


def fft_magnitude(x: np.ndarray) -> np.ndarray:
    """|FFT(x, norm="forward")| bins N/2 .. 1 for each row of x (N, L); float64."""
    spectrum = np.abs(np.fft.rfft(np.asarray(x, dtype=np.float64), axis=-1, norm="forward"))
    half = x.shape[-1] // 2
    return spectrum[..., half:0:-1]


def raw_features(x: np.ndarray, features: str) -> np.ndarray:
    """The unstandardised features of each row of x (N, L), (N, L/2) float64."""
    return fft_magnitude(x) if features == "fft" else envelope_features(x)


def envelope_features(x: np.ndarray) -> np.ndarray:
    """fft+envelope for each row of x (N, L): L/4 bin-pair means of `fft_magnitude`, then the squared-envelope
    spectrum's bins 1..L/4; float64 (N, L/2)."""
    x = np.asarray(x, dtype=np.float64)
    mag = fft_magnitude(x)
    pairs = mag.reshape(mag.shape[0], -1, 2).mean(-1)
    power = x * x
    power -= power.mean(-1, keepdims=True)
    envelope = np.abs(np.fft.rfft(power, axis=-1, norm="forward"))[:, 1 : x.shape[-1] // 4 + 1]
    return np.concatenate([pairs, envelope], axis=1)


def feature_blocks(features: str, n: int) -> list[slice]:
    """The blocks of an n-long feature vector that `global` scaling gives one std each."""
    return [slice(0, n)] if features == "fft" else [slice(0, n // 2), slice(n // 2, n)]


def check_features(features: str) -> str:
    if features not in FEATURES:
        raise DataError(f"features: expected one of {', '.join(FEATURES)}, got {features!r}")
    return features


@dataclass
class Preprocessing:
    """The full window -> model-input transform, fitted on training data and saved with the model."""

    window: int = 2048
    sample_rate_hz: float = 12_000.0
    mean: np.ndarray = field(default_factory=lambda: np.zeros(1024))
    std: np.ndarray = field(default_factory=lambda: np.ones(1024))
    scale: str = "bin"  # how std was fitted (SCALES); the transform itself is mean and std alone
    features: str = "fft"  # FEATURES: what a window becomes before mean and std

    @property
    def n_features(self) -> int:
        return self.window // 2

    @classmethod
    def fit(cls, train_windows: np.ndarray, window: int = 2048, sample_rate_hz: float = 12_000.0, scale: str = "bin",
            features: str = "fft") -> "Preprocessing":
        if scale not in SCALES:
            raise DataError(f"feature scale: expected one of {', '.join(SCALES)}, got {scale!r}")
        mag = raw_features(validate_windows(train_windows, window, "training windows"), check_features(features))
        std = mag.std(axis=0)
        if scale == "global":  # per block, the root mean square of the bins' stds, the same for every bin of it
            for block in feature_blocks(features, mag.shape[1]):
                std[block] = float(np.sqrt(np.mean(mag[:, block].var(axis=0))))
        # A bin that never varies in training carries no information; scale 1 avoids 0/0.
        std = np.where(std > 1e-12, std, 1.0)
        return cls(window, sample_rate_hz, mag.mean(axis=0), std, scale, features)

    def __call__(self, windows: np.ndarray, source: str = "input") -> np.ndarray:
        """Model input (N, n_features) float32 for raw windows (N, window)."""
        x = validate_windows(windows, self.window, source)
        return ((raw_features(x, self.features) - self.mean) / self.std).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        version, transform = FEATURES[self.features]
        return {
            "version": version,
            "window": self.window,
            "sample_rate_hz": self.sample_rate_hz,
            "transform": transform,
            "normalisation": "(feature - mean) / std: the mean per bin, the std per bin or one for every bin (scale); fitted on training windows",
            "scale": self.scale,
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "preprocessing spec") -> "Preprocessing":
        try:
            if d["version"] not in SPEC_VERSIONS:
                raise DataError(f"{source}: unsupported preprocessing version {d['version']} (expected one of {sorted(SPEC_VERSIONS)})")
            features = SPEC_VERSIONS[d["version"]]
            window = int(d["window"])
            mean = np.asarray(d["mean"], dtype=np.float64)
            std = np.asarray(d["std"], dtype=np.float64)
            scale = str(d.get("scale", "bin"))  # specs from before the option: per-bin
            if scale not in SCALES:
                raise DataError(f"{source}: field 'scale' must be one of {', '.join(SCALES)}, got {scale!r}")
            spec = cls(window, float(d["sample_rate_hz"]), mean, std, scale, features)
        except KeyError as exc:
            raise DataError(f"{source}: missing field {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            raise DataError(f"{source}: malformed field ({exc})") from None
        for name, arr in (("mean", mean), ("std", std)):
            if arr.shape != (window // 2,):
                raise DataError(f"{source}: field {name!r} has shape {arr.shape}, expected ({window // 2},)")
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(std)) and np.all(std > 0)):
            raise DataError(f"{source}: 'mean'/'std' must be finite and 'std' positive")
        return spec
