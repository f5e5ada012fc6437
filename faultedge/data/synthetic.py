"""Physics-based synthetic drive-end vibration for the 10 CWRU classes: the embedded default.

Each localised defect strikes a rolling element once per defect period (BPFO, BPFI, 2*BSF
from the CWRU drive-end bearing geometry and the shaft speed), with a little random slip.
Every strike rings the housing's structural modes; a wider defect means a longer contact,
whose spectrum rolls off sooner, so it excites the high modes less. Inner-race and ball
defects travel through the load zone and are amplitude-modulated at the shaft and cage
frequencies; the outer-race defect at 6 o'clock sits in the load zone and is not. Shaft
harmonics and broadband sensor noise complete the signal. Nothing is downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import fftconvolve

from faultedge.data.classes import CLASS_SPECS
from faultedge.data.cwru import FS_HZ, NOMINAL_RPM
from faultedge.data.recording import Recording


@dataclass(frozen=True)
class BearingGeometry:
    """SKF 6205-2RS JEM, the CWRU drive-end bearing (inches)."""

    n_balls: int = 9
    ball_diameter: float = 0.3126
    pitch_diameter: float = 1.537

    def defect_orders(self) -> dict[str, float]:
        """Defect frequencies as multiples of the shaft frequency (contact angle 0)."""
        r = self.ball_diameter / self.pitch_diameter
        return {
            "ftf": 0.5 * (1 - r),
            "bpfo": 0.5 * self.n_balls * (1 - r),
            "bpfi": 0.5 * self.n_balls * (1 + r),
            "bsf": 0.5 / r * (1 - r * r),
        }


DE_BEARING = BearingGeometry()
# Structural modes of the motor housing seen by the drive-end accelerometer: (Hz, damping ratio, gain).
_MODES = ((1_300.0, 0.05, 0.5), (2_900.0, 0.03, 1.0), (3_600.0, 0.025, 0.8), (5_200.0, 0.03, 0.45))
_ROLLING_SPEED_IN_PER_S = 57.0  # ball-centre speed relative to the races at ~1800 rpm (pi * D * f_cage)


def impact_response(size_inch: float, fs: float, rng: np.random.Generator, length: int = 512) -> np.ndarray:
    """Housing response to one strike on a defect of the given width."""
    t = np.arange(length) / fs
    contact_s = size_inch / _ROLLING_SPEED_IN_PER_S  # longer contact -> earlier spectral roll-off
    h = np.zeros(length)
    for f, zeta, gain in _MODES:
        f_mode = f * (1 + 0.01 * rng.standard_normal())
        weight = gain * abs(np.sinc(f_mode * contact_s))
        h += weight * np.exp(-2 * np.pi * zeta * f_mode * t) * np.sin(2 * np.pi * f_mode * t)
    return h / np.max(np.abs(h))


def _strike_train(n: int, fs: float, rate_hz: float, rng: np.random.Generator) -> np.ndarray:
    """Sample indices of successive strikes, with 1 % random slip of each period."""
    period = fs / rate_hz
    count = int(n / period) + 2
    intervals = period * (1 + 0.01 * rng.standard_normal(count))
    times = rng.uniform(0, period) + np.concatenate([[0.0], np.cumsum(intervals[:-1])])
    idx = np.round(times).astype(np.int64)
    return idx[idx < n]


def synthesize_record(label: int, load_hp: int, n_samples: int, rng: np.random.Generator, fs: float = FS_HZ) -> np.ndarray:
    """One record of class `label` (an index into CLASS_SPECS) at the given motor load."""
    fault, size = CLASS_SPECS[label]
    rpm = NOMINAL_RPM[min(load_hp, 3)] * (1 + 0.002 * rng.standard_normal())
    fr = rpm / 60.0
    orders = DE_BEARING.defect_orders()
    t = np.arange(n_samples) / fs

    # Shaft: unbalance (1x) and misalignment (2x) with random phases; broadband sensor noise.
    x = 0.02 * np.sin(2 * np.pi * fr * t + rng.uniform(0, 2 * np.pi))
    x += 0.008 * np.sin(2 * np.pi * 2 * fr * t + rng.uniform(0, 2 * np.pi))
    x += 0.012 * rng.standard_normal(n_samples)
    if fault == "normal":
        return x

    slip = 1 + 0.01 * rng.standard_normal()
    if fault == "outer_race_@6":
        rate, modulation = orders["bpfo"] * fr * slip, np.ones(n_samples)
    elif fault == "inner_race":
        rate = orders["bpfi"] * fr * slip
        modulation = 0.6 + 0.4 * np.cos(2 * np.pi * fr * t + rng.uniform(0, 2 * np.pi))
    else:  # ball: hits both races, twice per spin, and travels with the cage
        rate = 2 * orders["bsf"] * fr * slip
        modulation = 0.6 + 0.4 * np.cos(2 * np.pi * orders["ftf"] * fr * t + rng.uniform(0, 2 * np.pi))

    strikes = _strike_train(n_samples, fs, rate, rng)
    amplitude = 0.35 * np.sqrt(size / 0.007) * (1 + 0.1 * load_hp) * rng.lognormal(0.0, 0.1)
    train = np.zeros(n_samples)
    train[strikes] = amplitude * modulation[strikes] * rng.lognormal(0.0, 0.25, strikes.size)
    x += fftconvolve(train, impact_response(size, fs, rng), mode="full")[:n_samples]
    return x


def synthesize_recordings(load_hp: int = 0, seed: int = 0, n_samples: int = 122_000) -> list[Recording]:
    """One seeded record per class, shaped like a CWRU 0 hp file (12 kHz, ~10 s)."""
    rng = np.random.default_rng([seed, load_hp, 0x5EED])
    rpm = NOMINAL_RPM[min(load_hp, 3)]
    return [
        Recording(f"synthetic:{label}:{load_hp}hp", label, load_hp, rpm, FS_HZ, synthesize_record(label, load_hp, n_samples, rng))
        for label in range(len(CLASS_SPECS))
    ]
