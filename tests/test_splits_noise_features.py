"""Time split without leaks, seeded noise at the requested SNR, and the FFT feature specification."""

from __future__ import annotations

import numpy as np
import pytest

from faultedge.data.features import Preprocessing, envelope_features, fft_magnitude, validate_windows
from faultedge.data.noise import add_awgn
from faultedge.data.splits import SplitSpec, make_splits, split_point
from faultedge.errors import DataError


def test_no_test_window_shares_a_sample_with_training(cwru_0hp):
    spec = SplitSpec()
    splits = make_splits(cwru_0hp, spec, seed=3)
    for i, rec in enumerate(cwru_0hp):
        cut = split_point(rec.signal.size, spec.train_fraction)
        for part in (splits.train, splits.val):
            starts = part.start[part.record == i]
            assert starts.size and (starts + spec.window).max() <= cut
        test_starts = splits.test.start[splits.test.record == i]
        assert test_starts.min() >= cut
        # sample sets are disjoint, checked directly
        train_samples = set(np.concatenate([s + np.arange(spec.window) for s in splits.train.start[splits.train.record == i]]).tolist())
        test_samples = set(np.concatenate([s + np.arange(spec.window) for s in test_starts]).tolist())
        assert not train_samples & test_samples
        # windows really are the record's samples at those starts
        j = np.flatnonzero(splits.test.record == i)[0]
        np.testing.assert_array_equal(splits.test.x[j], rec.signal[splits.test.start[j] : splits.test.start[j] + spec.window].astype(np.float32))


def test_counts_stride_grid_and_determinism(cwru_0hp):
    spec = SplitSpec()
    a, b = make_splits(cwru_0hp, spec, seed=1), make_splits(cwru_0hp, spec, seed=1)
    assert (len(a.train), len(a.val), len(a.test)) == (5000, 2500, 2500)
    assert np.bincount(a.test.y).tolist() == [250] * 10
    np.testing.assert_array_equal(a.test.x, b.test.x)
    for part in (a.train, a.test):
        for i in range(10):
            s = part.start[part.record == i]
            assert len(set((s % spec.stride).tolist())) == 1  # one random offset, stride-28 grid
    assert not np.array_equal(make_splits(cwru_0hp, spec, seed=2).train.start, a.train.start)


def test_imbalance_keeps_the_normal_class_and_thins_the_faults(cwru_0hp):
    spec = SplitSpec(n_train=400, n_val=20, n_test=30, imbalance=50)
    splits = make_splits(cwru_0hp, spec, seed=0)
    assert np.bincount(splits.train.y).tolist() == [400] + [8] * 9
    assert np.bincount(splits.val.y).tolist() == [20] * 10 and np.bincount(splits.test.y).tolist() == [30] * 10
    assert SplitSpec(n_train=10, imbalance=1000).n_train_of(4) == 1  # every fault class keeps a window
    with pytest.raises(DataError, match="ratio must be at least 1"):
        SplitSpec(imbalance=0.5)


@pytest.mark.parametrize("snr_db", [-6.0, 0.0, 10.0])
def test_awgn_reaches_the_requested_snr(snr_db):
    rng = np.random.default_rng(0)
    x = np.sin(np.linspace(0, 200, 2048))[None, :].repeat(200, 0).astype(np.float64)
    noisy = add_awgn(x, snr_db, np.random.default_rng(5))
    measured = 10 * np.log10(np.mean(x**2) / np.mean((noisy - x) ** 2))
    assert abs(measured - snr_db) < 0.1
    np.testing.assert_array_equal(noisy, add_awgn(x, snr_db, np.random.default_rng(5)))
    assert add_awgn(x, None, rng) is x


def test_fft_feature_is_the_upper_half_of_the_full_spectrum():
    x = np.random.default_rng(0).standard_normal((3, 2048))
    full = np.abs(np.fft.fft(x, norm="forward"))
    np.testing.assert_allclose(fft_magnitude(x), full[:, 1024:], rtol=1e-12, atol=1e-15)


def test_normalisation_is_fitted_on_training_windows_only():
    rng = np.random.default_rng(0)
    train, test = rng.standard_normal((300, 2048)), 5 * rng.standard_normal((100, 2048))
    prep = Preprocessing.fit(train)
    mag = fft_magnitude(train)
    np.testing.assert_allclose(prep.mean, mag.mean(0))
    np.testing.assert_allclose(prep.std, mag.std(0))
    z = prep(test)
    assert z.dtype == np.float32 and z.shape == (100, 1024)
    assert abs(float(prep(train).mean())) < 1e-5 and float(z.mean()) > 5  # test is NOT re-standardised


def test_global_scale_divides_every_bin_by_one_std_and_keeps_the_spectrum_shape():
    """scale="global": the mean stays per bin, the std is the root mean square of the bins' stds; a bin that is
    ten times as loud as another stays ten times as far from its mean."""
    x = np.random.default_rng(1).standard_normal((300, 2048))
    x[:, ::2] *= 3.0  # some structure across bins
    prep = Preprocessing.fit(x, scale="global")
    mag = fft_magnitude(x)
    np.testing.assert_allclose(prep.mean, mag.mean(0))
    np.testing.assert_allclose(prep.std, np.full(1024, np.sqrt(np.mean(mag.var(0)))))
    back = Preprocessing.from_dict(prep.to_dict())
    assert back.scale == "global" and Preprocessing.fit(x).scale == "bin"
    np.testing.assert_array_equal(back(x), prep(x))
    with pytest.raises(DataError, match="feature scale: expected one of bin, global, got 'max'"):
        Preprocessing.fit(x, scale="max")
    d = prep.to_dict()
    d["scale"] = "max"
    with pytest.raises(DataError, match="field 'scale' must be one of bin, global"):
        Preprocessing.from_dict(d)
    del d["scale"]  # a spec from before the option
    assert Preprocessing.from_dict(d).scale == "bin"


def test_the_envelope_features_find_a_defect_rate_that_the_spectrum_spreads_out():
    """fft+envelope: a 3 kHz resonance struck at a 100 Hz defect rate peaks at 100 Hz in the envelope block (bins
    1..512 of fs/2048), and the spectrum block is the spectrum with each pair of bins averaged."""
    fs, n = 12_000.0, 2048
    t = np.arange(n) / fs
    rng = np.random.default_rng(5)
    x = np.stack([(1 + np.cos(2 * np.pi * 100.0 * t)) * np.sin(2 * np.pi * 3_000.0 * t + rng.uniform(0, 6)) for _ in range(3)])
    feats = envelope_features(x)
    assert feats.shape == (3, 1024)
    np.testing.assert_allclose(feats[:, :512], fft_magnitude(x).reshape(3, 512, 2).mean(-1))
    peak_hz = (np.argmax(feats[:, 512:], axis=1) + 1) * fs / n
    assert np.all(np.abs(peak_hz - 100.0) <= fs / n)
    # standardised, each block by its own std with scale="global"
    w = rng.standard_normal((200, n))
    prep = Preprocessing.fit(w, scale="global", features="fft+envelope")
    raw = envelope_features(w)
    for block in (slice(0, 512), slice(512, 1024)):
        np.testing.assert_allclose(prep.std[block], np.sqrt(np.mean(raw[:, block].var(0))))
    back = Preprocessing.from_dict(prep.to_dict())
    assert prep.to_dict()["version"] == 2 and back.features == "fft+envelope"
    np.testing.assert_array_equal(back(w[:4]), prep(w[:4]))
    with pytest.raises(DataError, match="features: expected one of fft, fft\\+envelope, got 'cwt'"):
        Preprocessing.fit(w, features="cwt")


def test_the_runner_computes_each_spec_version_and_refuses_others():
    """The bundle runner's numpy front end equals Preprocessing for both versions; a spec it does not know is refused
    by name, not misread."""
    from faultedge.edge.onnx_export import front_end
    from faultedge.edge.runner import RunnerError, Spec

    w = np.random.default_rng(6).standard_normal((20, 2048)) * np.linspace(0.5, 2.0, 20)[:, None]
    for features in ("fft", "fft+envelope"):
        prep = Preprocessing.fit(w, scale="global", features=features)
        got = front_end(Spec(prep.to_dict()), "magnitude").logits(w.astype(np.float32))
        np.testing.assert_allclose(got, prep(w), atol=1e-5)
    d = prep.to_dict()
    d["version"] = 3
    with pytest.raises(RunnerError, match="preprocessing version 3 is not supported by this runner"):
        Spec(d)


def test_spec_round_trip_and_validation():
    prep = Preprocessing.fit(np.random.default_rng(0).standard_normal((50, 2048)))
    back = Preprocessing.from_dict(prep.to_dict())
    np.testing.assert_array_equal(back.mean, prep.mean)
    d = prep.to_dict()
    del d["std"]
    with pytest.raises(DataError, match="missing field 'std'"):
        Preprocessing.from_dict(d)
    d = prep.to_dict()
    d["mean"] = d["mean"][:10]
    with pytest.raises(DataError, match=r"'mean' has shape \(10,\)"):
        Preprocessing.from_dict(d)
    d = prep.to_dict()
    d["version"] = 3
    with pytest.raises(DataError, match=r"unsupported preprocessing version 3 \(expected one of \[1, 2\]\)"):
        Preprocessing.from_dict(d)


@pytest.mark.parametrize(
    "x, message",
    [
        (np.zeros((2, 1000)), "windows must have 2048 samples, got 1000"),
        (np.zeros((2, 2, 2048)), r"expected windows of shape \(N, 2048\)"),
        (np.array([[np.nan] * 2048]), r"2048 non-finite"),
        (np.full((1, 2048), "a"), "must be real numbers"),
    ],
)
def test_bad_windows_are_rejected(x, message):
    with pytest.raises(DataError, match=message):
        validate_windows(x, 2048)
