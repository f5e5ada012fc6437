"""Robust-training augmentation (SNR range, speed, gain) and the train options that select it."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from faultedge.cli import build_parser
from faultedge.data.augment import AugmentSpec, augment, sample_snr, scale_frequency
from faultedge.data.dataset import DataSpec
from faultedge.data.features import Preprocessing, fft_magnitude
from faultedge.data.splits import SplitSpec
from faultedge.errors import DataError, RunDirError
from faultedge.runs import RunDir, read_json
from faultedge.train.pipeline import Session, TrainConfig, prepare_run


def test_snr_sampling_covers_the_range_with_the_clean_fraction():
    spec = AugmentSpec(snr_range=(-8.0, 10.0), clean_fraction=0.2)
    snr = sample_snr(40_000, spec, np.random.default_rng(1))
    clean = np.isinf(snr)
    assert abs(clean.mean() - 0.2) < 0.01
    noisy = snr[~clean]
    assert noisy.min() >= -8.0 and noisy.max() <= 10.0
    # uniform in dB: each sixth of the range holds a sixth of the noisy windows
    counts = np.histogram(noisy, bins=6, range=(-8, 10))[0] / noisy.size
    assert np.all(np.abs(counts - 1 / 6) < 0.01)
    assert np.array_equal(snr, sample_snr(40_000, spec, np.random.default_rng(1)))


def test_low_snr_weight_oversamples_the_hard_half():
    spec = AugmentSpec(snr_range=(-6.0, 10.0), clean_fraction=0.0, low_snr_weight=3.0)
    snr = sample_snr(40_000, spec, np.random.default_rng(2))
    assert abs((snr < 2.0).mean() - 0.75) < 0.01
    assert snr.min() >= -6.0 and snr.max() <= 10.0


def test_per_window_noise_follows_the_drawn_snr():
    """Noise power relative to each window's own power matches its drawn SNR; clean windows are untouched."""
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((400, 2048)) * rng.uniform(0.1, 5.0, (400, 1))).astype(np.float32)
    spec = AugmentSpec(snr_range=(-8.0, 10.0), clean_fraction=0.25, speed=0.0)
    out = augment(x, spec, np.random.default_rng(4))
    snr = sample_snr(400, spec, np.random.default_rng(4))  # the same first draws augment() makes
    clean = np.isinf(snr)
    assert np.array_equal(out[clean], x[clean])
    noise = (out - x)[~clean].astype(np.float64)
    measured = 10 * np.log10(np.mean(np.square(x[~clean], dtype=np.float64), 1) / np.mean(noise**2, 1))
    assert np.max(np.abs(measured - snr[~clean])) < 0.6


def test_speed_scaling_moves_a_tone_by_the_factor():
    fs, n = 12_000.0, 2048
    t = np.arange(n) / fs
    f0 = 3_000.0
    x = np.sin(2 * np.pi * f0 * t)[None, :].repeat(3, 0).astype(np.float32)
    out = scale_frequency(x, np.array([0.98, 1.0, 1.02]))
    assert out.shape == x.shape and out.dtype == np.float32
    assert np.array_equal(out[1], x[1])
    peaks = np.argmax(np.abs(np.fft.rfft(out.astype(np.float64), axis=1)), axis=1) * fs / n
    assert peaks[0] == pytest.approx(f0 * 0.98, abs=fs / n)
    assert peaks[2] == pytest.approx(f0 * 1.02, abs=fs / n)
    assert peaks[0] < peaks[1] < peaks[2]


def test_gain_changes_the_level_within_its_range_and_is_seeded():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((500, 2048)).astype(np.float32)
    spec = AugmentSpec(clean_fraction=1.0, speed=0.0, gain_db=6.0)
    a, b = augment(x, spec, np.random.default_rng(6)), augment(x, spec, np.random.default_rng(6))
    assert np.array_equal(a, b)
    gain_db = 20 * np.log10(np.sqrt(np.mean(a.astype(np.float64) ** 2, 1) / np.mean(x.astype(np.float64) ** 2, 1)))
    assert gain_db.min() >= -6.0 - 1e-4 and gain_db.max() <= 6.0 + 1e-4
    assert gain_db.std() > 2.0  # uniform over 12 dB: std 3.5 dB
    assert not np.array_equal(a, augment(x, spec, np.random.default_rng(7)))


@pytest.mark.parametrize(
    "kwargs, message",
    [({"snr_range": (5.0, -5.0)}, "low <= high"), ({"clean_fraction": 1.5}, "clean fraction"), ({"speed": -0.1}, "speed"),
     ({"gain_db": -1.0}, "gain"), ({"low_snr_weight": 0.0}, "low-SNR weight")],
)
def test_bad_augmentation_settings_are_rejected(kwargs, message):
    with pytest.raises(DataError, match=message):
        AugmentSpec(**kwargs)


def _small_config(cwru_dir, augment_spec):
    return TrainConfig(data=DataSpec(source=str(cwru_dir), split=SplitSpec(n_train=20, n_val=10, n_test=10)), augment=augment_spec)


def test_robust_session_draws_fresh_augmented_windows_and_fits_statistics_on_them(cwru_dir, tmp_path):
    cfg = _small_config(cwru_dir, AugmentSpec())
    run = RunDir(tmp_path / "robust")
    session = Session(run, prepare_run(run, cfg), progress=False)
    w0, w1 = session.train_windows(0), session.train_windows(1)
    clean = session.dataset.splits.train.x
    assert w0.shape == clean.shape and not np.array_equal(w0, w1)
    # about 30 % of the windows are noise-free, but speed scaling changes them: none equals its clean window
    assert not np.any(np.all(w0 == clean, axis=1))
    saved = Preprocessing.from_dict(read_json(run / "preprocessing.json"))
    mag = fft_magnitude(w0)  # the default scale: one std for every bin, the root mean square of the bins' stds
    assert saved.scale == "global" and np.allclose(saved.mean, mag.mean(0)) and np.allclose(saved.std, np.sqrt(np.mean(mag.var(0))))
    # the same config rebuilds the same epoch (a stage run alone continues a run exactly)
    again = Session(run, prepare_run(run, None), progress=False)
    assert np.array_equal(again.train_windows(1), w1)
    assert read_json(run / "config.json")["augment"]["snr_range"] == [-10.0, 6.0]


def test_reference_recipe_trains_at_the_single_snr(cwru_dir, tmp_path):
    run = RunDir(tmp_path / "reference")
    session = Session(run, prepare_run(run, _small_config(cwru_dir, None)), progress=False)
    x, _ = session.dataset.noisy("train")
    assert np.array_equal(session.train_windows(0), x)
    d = read_json(run / "config.json")
    assert d["augment"] is None
    del d["augment"]  # a config.json written before the robust recipe existed
    assert TrainConfig.from_dict(d).augment is None


def _train_args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["train", "--out", "unused", *argv])


def test_train_options_select_the_recipe():
    from faultedge.commands.train import config_from_args

    assert config_from_args(_train_args()).augment == AugmentSpec()
    assert config_from_args(_train_args("--recipe", "reference")).augment is None
    cfg = config_from_args(_train_args("--train-snr", "-6", "6", "--clean-fraction", "0", "--speed", "0.02", "--gain-db", "3"))
    assert cfg.augment == AugmentSpec(snr_range=(-6.0, 6.0), clean_fraction=0.0, speed=0.02, gain_db=3.0)
    with pytest.raises(DataError, match="--speed applies to --recipe robust only"):
        config_from_args(_train_args("--recipe", "reference", "--speed", "0.01"))
    assert json.loads(json.dumps(cfg.to_dict()))["augment"]["speed"] == 0.02


def test_the_feature_scale_is_an_option_and_the_reference_recipe_keeps_per_bin():
    from faultedge.commands.train import config_from_args

    robust = config_from_args(_train_args())
    assert robust.feature_scale == TrainConfig().feature_scale
    assert config_from_args(_train_args("--recipe", "reference")).feature_scale == "bin"
    for scale in ("bin", "global"):
        cfg = config_from_args(_train_args("--feature-scale", scale))
        assert cfg.feature_scale == scale and TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(RunDirError, match="feature_scale: expected one of bin, global"):
        TrainConfig(feature_scale="max")


def test_the_student_width_and_the_features_are_options(tmp_path):
    from faultedge.commands.train import config_from_args, run_one_stage

    assert config_from_args(_train_args()).student_channels == TrainConfig().student_channels == 4
    assert config_from_args(_train_args()).features == TrainConfig().features == "fft"
    assert config_from_args(_train_args("--features", "fft+envelope")).features == "fft+envelope"
    cfg = config_from_args(_train_args("--student-channels", "16"))
    assert cfg.student_channels == 16 and TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    old = {k: v for k, v in cfg.to_dict().items() if k not in ("student_channels", "features")}  # from before the options
    assert TrainConfig.from_dict(old).student_channels == 4 and TrainConfig.from_dict(old).features == "fft"
    with pytest.raises(RunDirError, match="--student-channels applies to the student chain"):
        run_one_stage(_train_args("--network", "axmlp", "--student-channels", "8"), RunDir(tmp_path / "mlp"))
    assert not (tmp_path / "mlp").exists()


def test_each_recipe_has_its_stage_lengths_and_the_options_override_them():
    from faultedge.commands.train import config_from_args

    robust, reference = config_from_args(_train_args()), config_from_args(_train_args("--recipe", "reference"))
    assert [(f.epochs, f.patience) for f in (robust.teacher, robust.student, robust.lora)] == [(20, 8), (60, 8), (20, 8)]
    assert TrainConfig().teacher == robust.teacher  # Python's default is the command's
    assert [(f.epochs, f.patience) for f in (reference.teacher, reference.student, reference.lora)] == [(60, 12), (80, 12), (40, 12)]
    custom = config_from_args(_train_args("--recipe", "reference", "--epochs", "5", "6", "7", "--patience", "3"))
    assert [(f.epochs, f.patience) for f in (custom.teacher, custom.student, custom.lora)] == [(5, 3), (6, 3), (7, 3)]
