"""The synthetic generator carries the physics it claims: defect frequencies in the envelope spectrum."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import butter, hilbert, sosfiltfilt

from faultedge.data.classes import CLASS_NAMES
from faultedge.data.synthetic import DE_BEARING, synthesize_recordings


def envelope_peak_hz(x: np.ndarray, fs: float, lo: float, hi: float) -> float:
    """Frequency of the largest envelope-spectrum line in [lo, hi] after a 2-5 kHz band-pass."""
    band = sosfiltfilt(butter(4, [2000, 5000], btype="band", fs=fs, output="sos"), x)
    env = np.abs(hilbert(band))
    spec = np.abs(np.fft.rfft(env - env.mean()))
    f = np.fft.rfftfreq(env.size, 1 / fs)
    sel = (f >= lo) & (f <= hi)
    return float(f[sel][np.argmax(spec[sel])])


@pytest.fixture(scope="module")
def records():
    return synthesize_recordings(load_hp=0, seed=11)


def test_ten_classes_seeded_and_shaped_like_cwru(records):
    assert [r.label for r in records] == list(range(10))
    assert all(r.signal.shape == (122_000,) and r.fs_hz == 12_000 for r in records)
    again = synthesize_recordings(load_hp=0, seed=11)
    np.testing.assert_array_equal(records[4].signal, again[4].signal)
    assert not np.array_equal(records[4].signal, synthesize_recordings(load_hp=0, seed=12)[4].signal)


@pytest.mark.parametrize("label", range(1, 10))
def test_envelope_spectrum_shows_the_defect_frequency(records, label):
    rec = records[label]
    orders = DE_BEARING.defect_orders()
    fr = rec.rpm / 60
    kind = CLASS_NAMES[label][:2]
    expected = {"IR": orders["bpfi"], "OR": orders["bpfo"], "B0": 2 * orders["bsf"]}[kind] * fr
    peak = envelope_peak_hz(rec.signal, rec.fs_hz, 60, 350)
    assert abs(peak - expected) / expected < 0.04, (CLASS_NAMES[label], peak, expected)


def test_normal_has_no_impacts_and_faults_are_impulsive(records):
    kurt = [float(((r.signal - r.signal.mean()) ** 4).mean() / r.signal.var() ** 2) for r in records]
    assert kurt[0] < 3.5  # shaft tones + Gaussian noise
    assert min(kurt[1:]) > kurt[0]


def test_load_changes_the_shaft_speed():
    r0, r1 = synthesize_recordings(0, seed=1)[7], synthesize_recordings(1, seed=1)[7]
    assert r1.rpm < r0.rpm
    p0 = envelope_peak_hz(r0.signal, 12_000, 60, 350)
    p1 = envelope_peak_hz(r1.signal, 12_000, 60, 350)
    assert p1 < p0
