"""Additive white Gaussian noise at a signal-to-noise ratio, per window and seeded."""

from __future__ import annotations

import numpy as np


def add_awgn(x: np.ndarray, snr_db: float | np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    """Return windows `x` (N, L) with white noise at `snr_db` (scalar, or one value per window).

    The noise power is set from each window's own mean power, as the references do. `None`
    returns the windows unchanged (noise-free).
    """
    if snr_db is None:
        return x
    power = np.mean(np.square(x, dtype=np.float64), axis=-1, keepdims=True)
    snr = np.asarray(snr_db, dtype=np.float64).reshape(-1, 1) if np.ndim(snr_db) else snr_db
    noise = rng.standard_normal(x.shape)
    noise *= np.sqrt(power / np.power(10.0, np.asarray(snr) / 10.0))  # in place: an epoch's windows are 10 M values
    noise += x
    return noise.astype(x.dtype)
