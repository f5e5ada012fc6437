"""Robot drive currents carry the physics they claim; CWT images and ZCA whitening behave; windows never leak."""

from __future__ import annotations

import numpy as np
import pytest

from faultedge.data.cwt import CWTSpec, ZCAWhitening, cwt_images
from faultedge.data.images import ImageDataSpec, build_image_sets, default_split
from faultedge.data.robot import ROBOT_CLASS_NAMES, synthesize_robot_recordings
from faultedge.data.splits import make_splits
from faultedge.errors import DataError


@pytest.fixture(scope="module")
def robot():
    return synthesize_robot_recordings(seed=3, duration_s=60)


def fault_part(label: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """The currents of state `label` and what its faults add (same random draws with severity 0)."""
    full = synthesize_robot_recordings(seed=seed, duration_s=30)[label].signal
    return full, full - synthesize_robot_recordings(seed=seed, duration_s=30, severity=0.0)[label].signal


def test_seven_states_of_table_1_seeded(robot):
    assert ROBOT_CLASS_NAMES == ("R1+M2", "R1+M3", "R3+M4", "R3", "M2", "R4", "normal")
    assert [r.label for r in robot] == list(range(7)) and all(r.signal.shape == (6, 60 * 1024) for r in robot)
    again = synthesize_robot_recordings(seed=3, duration_s=60)
    np.testing.assert_array_equal(robot[2].signal, again[2].signal)
    assert not np.array_equal(robot[2].signal, synthesize_robot_recordings(seed=4, duration_s=60)[2].signal)


@pytest.mark.parametrize("label, axis", [(4, 2), (5, 4)])  # M2, R4
def test_a_fault_sits_on_its_axis_and_shakes_only_the_neighbours(label, axis):
    _, fault = fault_part(label)
    rms = np.sqrt(np.mean(fault**2, axis=1))
    i = axis - 1
    assert rms[i] > 0.005
    np.testing.assert_allclose(rms[[i - 1, i + 1]], 0.15 * rms[i], rtol=0.35)  # coupling through the arm
    far = [a for a in range(6) if abs(a - i) > 1]
    assert np.all(rms[far] == 0)


def test_fault_ripple_grows_with_the_transmitted_torque():
    """A motor fault on axis 2 (gravity-loaded) ripples more where the axis carries more current."""
    current, fault = fault_part(4, seed=5)
    seg = lambda x: x[: len(x) // 256 * 256].reshape(-1, 256)  # noqa: E731  quarter-second pieces
    load, ripple = np.abs(seg(current[1]).mean(1)), np.sqrt((seg(fault[1]) ** 2).mean(1))
    assert np.corrcoef(load, ripple)[0, 1] > 0.5


def test_multichannel_windows_keep_the_time_split(robot):
    splits = make_splits(robot, default_split("robot", n_train=40, n_val=10, n_test=20), seed=0)
    assert splits.train.x.shape == (280, 6, 1024) and splits.test.x.shape == (140, 6, 1024)
    for part in (splits.train, splits.val):
        assert np.all(part.start + 1024 <= splits.boundaries[part.record])
    assert np.all(splits.test.start >= splits.boundaries[splits.test.record])
    i = 7
    r = robot[splits.train.record[i]]
    np.testing.assert_array_equal(splits.train.x[i], r.signal[:, splits.train.start[i] : splits.train.start[i] + 1024].astype(np.float32))


def test_cwt_puts_a_tone_in_its_frequency_row():
    spec = CWTSpec(fs_hz=1024, window=1024, f_min_hz=5, f_max_hz=480)
    t = np.arange(1024) / 1024
    for f in (20.0, 60.0, 200.0):
        img = cwt_images(np.sin(2 * np.pi * f * t)[None], spec)[0, 0]
        row = int(np.argmax(img[:, 8:24].mean(1)))
        assert abs(np.log(spec.frequencies_hz[row] / f)) < 0.15, (f, spec.frequencies_hz[row])
    assert cwt_images(np.zeros((3, 2, 1024)), spec).shape == (3, 2, 32, 32)


def test_cwt_and_zca_reject_bad_input():
    spec = CWTSpec(fs_hz=1024, window=1024, f_min_hz=5, f_max_hz=480)
    with pytest.raises(DataError, match="expected windows"):
        cwt_images(np.zeros((2, 1000)), spec)
    bad = np.zeros((2, 1024))
    bad[1, 5] = np.nan
    with pytest.raises(DataError, match="non-finite"):
        cwt_images(bad, spec)
    with pytest.raises(DataError, match="equal time bins"):
        CWTSpec(fs_hz=1024, window=1000, f_min_hz=5, f_max_hz=480)
    with pytest.raises(DataError, match="not a PyWavelets continuous wavelet"):
        CWTSpec(fs_hz=1024, window=1024, f_min_hz=5, f_max_hz=480, wavelet="db4")
    zca = ZCAWhitening.fit(np.random.default_rng(0).normal(size=(50, 1, 8, 8)))
    with pytest.raises(DataError, match="do not fit"):
        zca(np.zeros((2, 2, 8, 8)))


def test_zca_whitens_training_images_and_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    mixing = rng.normal(size=(64, 64))
    x = (rng.normal(size=(4000, 64)) @ mixing).reshape(4000, 1, 8, 8) + 3.0
    zca = ZCAWhitening.fit(x, eps=1e-6)
    flat = zca(x).reshape(4000, 64)
    np.testing.assert_allclose(np.cov(flat.T, bias=True), np.eye(64), atol=0.02)
    zca.save(tmp_path / "zca.npz")
    again = ZCAWhitening.load(tmp_path / "zca.npz")
    np.testing.assert_array_equal(again(x[:5]), zca(x[:5]))
    (tmp_path / "bad.npz").write_bytes(b"junk")
    with pytest.raises(DataError, match="not a ZCA whitening file"):
        ZCAWhitening.load(tmp_path / "bad.npz")


def test_cwru_images_from_the_real_files(cwru_dir):
    spec = ImageDataSpec.for_source(str(cwru_dir), snr_db=-6.0, n_train=8, n_val=2, n_test=4)
    sets = build_image_sets(spec)
    assert sets.train[0].shape == (80, 1, 32, 32) and sets.test[0].shape == (40, 1, 32, 32)
    assert sets.n_classes == 10 and np.all(np.isfinite(sets.test[0]))
    assert abs(float(sets.train[0].mean())) < 1e-3  # whitened with training statistics
