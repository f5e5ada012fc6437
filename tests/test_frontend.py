"""The front end in integers (faultedge.ir.frontend): raw samples -> FFT -> magnitude -> normalisation ->
the network's inputs. The FFT equals maia-hdl's numpy model of its R2SDF pipeline; the whole front end
follows the float preprocessing closely on real CWRU windows; the IR carries it with clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from test_ir import mutate, tiny_ir_json

from faultedge.data.features import Preprocessing, fft_magnitude
from faultedge.errors import IRError
from faultedge.ir import IRModel, frontend, golden


def front_end(window: int = 16, sample_bits: int = 16, shifts: tuple[int, ...] | None = None, twiddle_bits: int = 16,
              mean: np.ndarray | None = None, std: np.ndarray | None = None, hop: int | None = None) -> frontend.FrontEnd:
    bins = window // 2
    return frontend.fit(np.zeros(bins) if mean is None else mean, np.ones(bins) if std is None else std, -4, (-128, 127), sample_bits,
                        2.0**-10, window, hop or window // 2, shifts or frontend.default_shifts(window, sample_bits), twiddle_bits)


@pytest.mark.parametrize("log2n, sample_bits, shifts, twiddle_bits", [
    (11, 16, None, 16),  # the default: 17-bit values through the 1024-point pipeline
    (11, 12, None, 12),  # 12-bit samples: the values grow to 17 bits first
    (8, 16, (0,) * 7, 18),  # no stage drops a bit: 24 bits out
    (3, 16, (1, 1), 16),  # a 4-point FFT: only the exact twiddles
])
def test_the_paired_fft_equals_maia_hdls_model(log2n, sample_bits, shifts, twiddle_bits):
    """The M = N/2-point FFT of the paired samples, on full-range, extreme and Gaussian windows."""
    from maia_hdl.fft import FFT

    n = 1 << log2n
    fe = front_end(n, sample_bits, shifts, twiddle_bits)
    lo, hi = fe.sample_range
    rng = np.random.default_rng(log2n)
    x = np.concatenate([rng.integers(lo, hi + 1, (4, n)), np.full((1, n), hi), np.full((1, n), lo), np.tile([hi, lo], (1, n // 2)),
                        np.tile([hi, hi, lo, lo], (1, n // 4)), np.round(rng.normal(0, hi / 8, (3, n))).clip(lo, hi).astype(np.int64),
                        np.zeros((1, n), np.int64)])
    re, im = frontend.fft_points(fe, x[:, 0::2], x[:, 1::2])
    maia = FFT(sample_bits + 1, log2n - 1, 2, truncates=list(fe.shifts), width_twiddle=twiddle_bits)
    assert fe.widths[-1] == maia.re_out.shape().width
    order = frontend.bit_reversed(fe.points)  # maia's pipeline gives bin order[j] as its j-th output
    for i, row in enumerate(x):
        m_re, m_im = maia.model(row[0::2], row[1::2])
        np.testing.assert_array_equal(m_re, re[i, order])
        np.testing.assert_array_equal(m_im, im[i, order])


def test_the_split_gives_the_real_windows_spectrum():
    """X[1 .. N/2] against numpy's rfft at the front end's scale, for full-range random windows."""
    fe = front_end(256, 16)
    lo, hi = fe.sample_range
    x = np.random.default_rng(3).integers(lo, hi + 1, (6, 256))
    re, im = frontend.spectrum(fe, x)
    ref = np.fft.rfft(x.astype(np.float64), axis=1)[:, 1:] / 2.0 ** sum(fe.shifts)
    assert np.abs(re + 1j * im - ref).max() < 8  # truncation noise of 7 stages and the split, in output LSBs
    assert max(np.abs(re).max(), np.abs(im).max()) < 2 ** (fe.spectrum_bits - 1)


def test_a_sinusoid_lands_in_its_bin_with_the_forward_scale():
    fe = front_end(64, shifts=(1,) * 5)
    k, amp = 5, 20000
    x = np.round(amp * np.cos(2 * np.pi * k * np.arange(64) / 64)).astype(np.int64)[None, :]
    mag = frontend.magnitudes(fe, x)[0]  # bins 32 .. 1
    assert int(np.argmax(mag)) == 32 - k
    assert mag[32 - k] * fe.magnitude_lsb / fe.sample_lsb == pytest.approx(amp / 2, rel=0.01)  # |FFT(x, norm="forward")| of a cosine
    assert mag[np.arange(32) != 32 - k].max() < 8  # truncation noise only


def test_the_front_end_follows_the_float_preprocessing_on_real_windows(real_windows):
    """Per-bin error of the integer magnitude against the float one, in units of the bin's training std."""
    prep, windows = real_windows
    fe = frontend.fit(prep.mean, prep.std, -4, (-128, 127), 16, frontend.full_scale_lsb(np.abs(windows).max(), 16), 2048, 1024,
                      frontend.default_shifts(2048, 16), 16)
    samples = frontend.quantize_samples(fe, windows)
    err = (frontend.magnitudes(fe, samples) * fe.magnitude_lsb - fft_magnitude(windows)) / prep.std
    assert np.abs(err).mean() < 0.03 and np.percentile(np.abs(err), 99) < 0.1  # one input LSB is 2**-4 = 0.0625 std
    ref = np.clip(np.round(prep(windows) / 2.0**-4), -128, 127)
    got = frontend.inputs(fe, samples)
    assert np.abs(got - ref).max() <= 3 and np.mean(got != ref) < 0.3


@pytest.fixture(scope="module")
def real_windows(cwru_0hp):
    from faultedge.data.noise import add_awgn
    from faultedge.data.splits import SplitSpec, make_splits

    splits = make_splits(cwru_0hp, SplitSpec(n_train=60, n_val=10, n_test=10), seed=0)
    rng = np.random.default_rng(0)
    prep = Preprocessing.fit(add_awgn(splits.train.x, -6.0, rng))
    return prep, np.concatenate([add_awgn(splits.test.x, -6.0, rng), splits.test.x])


def test_normalisation_rounds_half_to_even_and_clamps_to_the_input_range():
    fe = front_end(8, mean=np.array([0.0, 0, 0, 0]), std=np.array([1.0, 1, 1, 1]))
    fe = frontend.FrontEnd(**{**fe.__dict__, "offset": np.array([10, 0, 0, 0]), "multiplier": np.array([1, 3, 1, 1]), "shift": 1})
    got = frontend.normalise(fe, np.array([[11, 1, 3, 1000], [13, 100, 5, 0]]))
    assert got.tolist() == [[0, 2, 2, 127], [2, 127, 2, 0]]  # 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, 1.5 -> 2, 150 and 500 clamp


def test_ir_carries_the_front_end_and_the_golden_model_runs_from_samples(tmp_path):
    ir = IRModel.from_json(tiny_ir_json())
    from dataclasses import replace

    ir = replace(ir, frontend=front_end(16, std=np.full(8, 0.01)))
    ir.save(tmp_path / "m.ir.json")
    again = IRModel.load(tmp_path / "m.ir.json")
    assert again.dumps() == ir.dumps() and np.array_equal(again.frontend.multiplier, ir.frontend.multiplier)
    rng = np.random.default_rng(0)
    samples = rng.integers(-3000, 3000, (5, 16))
    res = golden.predict_samples(again, samples)
    np.testing.assert_array_equal(res.logits, golden.run(again, frontend.inputs(again.frontend, samples)[:, None, :]).logits)
    windows = frontend.frame(np.arange(100), 16, 8)
    assert windows.shape == (11, 16) and windows[1, 0] == 8 and windows[-1, -1] == 95
    with pytest.raises(IRError, match="this IR has no front end"):
        golden.predict_samples(IRModel.from_json(tiny_ir_json()), samples)
    with pytest.raises(IRError, match=r"samples: values outside the 16-bit sample range \[-32767, 32767\]"):
        golden.predict_samples(again, np.full((1, 16), -32768))
    with pytest.raises(IRError, match=r"samples: expected windows of shape \(R, 16\)"):
        golden.predict_samples(again, samples[:, :8])


@pytest.fixture(scope="module")
def ir_json_with_front_end() -> dict:
    from dataclasses import replace

    return replace(IRModel.from_json(tiny_ir_json()), frontend=front_end(16)).to_json()


@pytest.mark.parametrize("path, value, message", [
    ("frontend.window", 12, r"frontend\.window: 12 points give 6 bins, but the network takes 8 inputs"),
    ("frontend.window", 32, r"frontend\.window: 32 points give 16 bins, but the network takes 8 inputs"),
    ("frontend.sample_bits", 8, r"frontend\.sample_bits: 8 is outside \[12, 24\]"),
    ("frontend.hop", 17, r"frontend\.hop: 17 must be between 1 and the window \(16\)"),
    ("frontend.fft.shifts", [1, 1], r"frontend\.shifts: expected 3 shifts of 0 or 1 \(one per radix-2 stage of the 8-point FFT\)"),
    ("frontend.fft.rounding", "half_even", r"frontend\.fft\.rounding: the FFT rounds by flooring"),
    ("frontend.magnitude", "squared", r"frontend\.magnitude: unsupported 'squared'"),
    ("frontend.normalise.offset", [1, 2], r"frontend\.normalise\.offset: expected a list of 8 integers"),
    ("frontend.normalise.clamp", [-100, 100], r"frontend\.normalise\.clamp: \[-100, 100\] is not the input range \[-128, 127\]"),
    ("frontend.bins", {"first": 1, "step": 1, "count": 8}, r"frontend\.bins: the features are bins N/2 down to 1"),
    ("frontend.sample_lsb", -1, r"frontend\.sample_lsb: expected a positive number"),
])
def test_front_end_validation_names_the_field(ir_json_with_front_end, path, value, message):
    with pytest.raises(IRError, match=message):
        IRModel.from_json(mutate(path, value, obj=ir_json_with_front_end))


def test_the_front_end_must_be_the_one_preprocessing_json_gives():
    rng = np.random.default_rng(3)
    mean, std = rng.uniform(0, 0.01, 8), rng.uniform(0.001, 0.01, 8)
    fe = front_end(16, mean=mean, std=std)
    prep = {"window": 16, "mean": mean.tolist(), "std": std.tolist()}
    frontend.check_preprocessing(fe, prep, -4, "preprocessing.json")  # the one it was fitted from
    with pytest.raises(IRError, match="window 32 samples, but the IR's front end frames 16"):
        frontend.check_preprocessing(fe, {**prep, "window": 32}, -4, "preprocessing.json")
    with pytest.raises(IRError, match="mean/std of 7/8 bins, but the IR's front end has 8"):
        frontend.check_preprocessing(fe, {**prep, "mean": mean[:7].tolist()}, -4, "preprocessing.json")
    moved = mean.copy()
    moved[2] += 0.005
    with pytest.raises(IRError, match=r"other offsets than the IR's front end \(1 of 8 bins, first feature 2\); the IR is stale"):
        frontend.check_preprocessing(fe, {**prep, "mean": moved.tolist()}, -4, "preprocessing.json")


def test_the_envelope_front_end_follows_the_float_envelope_features_on_real_windows(cwru_0hp):
    """fft+envelope in integers: both blocks within a small fraction of a std of the float features, and the inputs
    within a few LSBs; the IR carries the front end and the hardware refuses it by name."""
    from faultedge.data.features import envelope_features
    from faultedge.data.noise import add_awgn
    from faultedge.data.splits import SplitSpec, make_splits
    from faultedge.hdl.frontend.plan import check_frontend

    splits = make_splits(cwru_0hp, SplitSpec(n_train=60, n_val=10, n_test=10), seed=0)
    rng = np.random.default_rng(0)
    prep = Preprocessing.fit(add_awgn(splits.train.x, -6.0, rng), scale="global", features="fft+envelope")
    windows = np.concatenate([add_awgn(splits.test.x, -6.0, rng), splits.test.x])
    fe = frontend.fit(prep.mean, prep.std, -4, (-128, 127), 16, frontend.full_scale_lsb(np.abs(windows).max(), 16), 2048, 1024,
                      frontend.default_shifts(2048, 16), 16, "fft+envelope")
    samples = frontend.quantize_samples(fe, windows)
    err = np.abs(frontend.feature_values(fe, samples) - envelope_features(windows)) / prep.std
    # measured here: mean / p99 |error| 0.007 / 0.026 std (spectrum), 0.008 / 0.081 (envelope); inputs <= 3 LSB apart on 12 %
    # (without the window gain: 0.030 / 0.100 and 28 %)
    assert err[:, :512].mean() < 0.01 and np.percentile(err[:, :512], 99) < 0.04
    assert err[:, 512:].mean() < 0.015 and np.percentile(err[:, 512:], 99) < 0.1
    ref = np.clip(np.round(prep(windows) / 2.0**-4), -128, 127)
    got = frontend.inputs(fe, samples)
    assert np.abs(got - ref).max() <= 3 and np.mean(got != ref) < 0.2
    # block floating point: a window 64x below the range keeps its envelope (the gain restores 12 bits of its square)
    quiet = samples[:20] // 64
    assert np.all(frontend.window_gain(fe, quiet) >= frontend.window_gain(fe, samples[:20]) + 5)
    quiet_err = np.abs(frontend.feature_values(fe, quiet) - envelope_features(quiet * fe.sample_lsb)) / prep.std
    assert quiet_err[:, 512:].mean() < 0.04
    assert frontend.FrontEnd(**{**fe.__dict__}).features == "fft+envelope" and fe.to_json()["features"] == "fft+envelope"
    frontend.check_preprocessing(fe, prep.to_dict(), -4, "preprocessing.json")
    with pytest.raises(IRError, match="fft features, but the IR's front end computes fft\\+envelope"):
        frontend.check_preprocessing(fe, Preprocessing.fit(windows[:20]).to_dict(), -4, "preprocessing.json")
    assert check_frontend(fe, "pipelined", "faultedge quantize RUN").envelope and check_frontend(fe, "iterative", "faultedge quantize RUN").envelope
