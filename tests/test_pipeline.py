"""The training pipeline on the real CWRU files, stage by stage, and the CLI around it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from faultedge.data.dataset import DataSpec
from faultedge.data.splits import SplitSpec
from faultedge.errors import RunDirError
from faultedge.models.student import Student
from faultedge.runs import RunDir
from faultedge.train.loop import FitConfig
from faultedge.train.pipeline import TrainConfig, run_stages


def test_short_cwru_training_reaches_stated_accuracy(cwru_run):
    """Real 0 hp files, the default (robust) recipe, 150 windows/class, a few epochs: time-split test accuracy at -6 dB."""
    run, m = cwru_run
    assert m["teacher"]["test"]["accuracy"] >= 85.0
    assert m["student"]["test"]["accuracy"] >= 85.0
    assert m["merge"]["test"]["accuracy"] >= 85.0
    assert m["teacher"]["test"]["n"] == 1000


def test_run_directory_contents(cwru_run):
    run, _ = cwru_run
    for name in ("config.json", "preprocessing.json", "teacher.pt", "student.pt", "dkdl.pt", "student_merged.pt", "metrics.json"):
        assert (run / name).is_file(), name
    for stage in ("teacher", "student", "lora", "merged"):
        assert (run / f"confusion_{stage}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    metrics = json.loads((run / "metrics.json").read_text())
    merged = metrics["merged"]
    assert merged["params"] == 2_830 and merged["macs"] == 35_328
    assert merged["max_abs_logit_diff_vs_lora"] <= 1e-5
    assert merged["test"]["f1_macro"] == metrics["lora"]["test"]["f1_macro"]
    assert metrics["lora"]["trainable_params"] == 4_008 and metrics["lora"]["params"] == 6_838
    assert len(merged["test"]["confusion"]) == 10
    config = json.loads((run / "config.json").read_text())
    assert config["data"]["snr_db"] == -6.0 and config["versions"]["torch"].startswith("2.13")
    state = torch.load(run / "student_merged.pt", weights_only=True)
    Student().load_state_dict(state)


def test_a_stage_alone_reproduces_the_pipeline(cwru_run, tmp_path):
    """Re-running the merge stage alone on a copy gives the same merged weights."""
    import shutil

    run, _ = cwru_run
    copy = RunDir(tmp_path / "copy")
    shutil.copytree(run.path, copy.path)
    (copy / "student_merged.pt").unlink()
    run_stages(copy, None, ("merge",), progress=False)
    a = torch.load(run / "student_merged.pt", weights_only=True)
    b = torch.load(copy / "student_merged.pt", weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_missing_previous_stage_says_what_to_run(cwru_dir, tmp_path):
    run = RunDir(tmp_path / "fresh")
    with pytest.raises(RunDirError, match=r"has no teacher\.pt: run `faultedge train --out .*fresh --stage teacher` first"):
        run_stages(run, TrainConfig(data=DataSpec(source=str(cwru_dir))), ("student",), progress=False)


def test_corrupt_checkpoint_is_refused(cwru_run, tmp_path):
    import shutil

    run, _ = cwru_run
    copy = RunDir(tmp_path / "bad")
    shutil.copytree(run.path, copy.path)
    (copy / "dkdl.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(RunDirError, match=r"dkdl\.pt: not a loadable weights-only checkpoint"):
        run_stages(copy, None, ("merge",), progress=False)


def test_seeded_runs_repeat_exactly(tmp_path):
    cfg = TrainConfig(
        data=DataSpec(split=SplitSpec(n_train=40, n_val=20, n_test=20)),
        teacher=FitConfig(epochs=2),
        student=FitConfig(epochs=2),
        lora=FitConfig(epochs=1),
    )
    a = run_stages(RunDir(tmp_path / "a"), cfg, ("teacher",), progress=False)
    b = run_stages(RunDir(tmp_path / "b"), cfg, ("teacher",), progress=False)
    assert a["teacher"]["test"] == b["teacher"]["test"]
    sa = torch.load(tmp_path / "a" / "teacher.pt", weights_only=True)
    sb = torch.load(tmp_path / "b" / "teacher.pt", weights_only=True)
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_class_loss_of_an_imbalanced_run_reaches_every_stage(tmp_path):
    """--loss ghl on --imbalance data: the loss follows the training windows' counts through teacher, DKD and LoRA."""
    cfg = TrainConfig(
        data=DataSpec(split=SplitSpec(n_train=40, n_val=10, n_test=10, imbalance=8)),
        teacher=FitConfig(epochs=1), student=FitConfig(epochs=1), lora=FitConfig(epochs=1), loss="ghl",
    )
    run = RunDir(tmp_path / "ghl")
    metrics = run_stages(run, cfg, progress=False)
    assert set(metrics) == {"teacher", "student", "lora", "merge"}
    assert TrainConfig.from_dict(json.loads((run / "config.json").read_text())) == cfg
    with pytest.raises(RunDirError, match="loss: expected one of ce, weighted, focal, ghl"):
        TrainConfig(loss="hinge")
    from faultedge.commands.train import LOSSES, SCHEDULES
    from faultedge.train.loop import SCHEDULES as LOOP_SCHEDULES
    from faultedge.train.losses import CLASS_LOSSES

    assert LOSSES == CLASS_LOSSES and SCHEDULES == tuple(LOOP_SCHEDULES)  # the CLI's choices, without importing torch


def test_a_fine_tune_that_never_beats_its_start_returns_the_start():
    """Early stopping counts the starting weights: a stage whose epochs all score worse on validation (here a
    learning rate that wrecks the network) hands back what it was given, with best_epoch -1."""
    from faultedge.train.loop import fit

    torch.manual_seed(0)
    x = torch.randn(200, 16)
    y = (x[:, 0] > 0).long()
    model = torch.nn.Linear(16, 2)
    with torch.no_grad():  # a perfect start: class 1 exactly when x0 > 0
        model.weight.zero_()
        model.weight[1, 0], model.weight[0, 0] = 5.0, -5.0
        model.bias.zero_()
    start = {k: v.clone() for k, v in model.state_dict().items()}

    def wreck(m, xb, yb, epoch):  # the loss pushes every window towards class 0
        return torch.nn.functional.cross_entropy(m(xb), torch.zeros_like(yb))

    res = fit(model, lambda e: (x, y), (x, y), wreck, FitConfig(epochs=3, patience=5, lr=0.5), seed=0, progress=False)
    assert res.best_epoch == -1 and res.epochs_run == 3 and res.best_val_accuracy == 100.0
    assert all(torch.equal(model.state_dict()[k], v) for k, v in start.items())


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "faultedge.cli", *args], capture_output=True, text=True, check=check)


def test_cli_help_lists_every_command():
    out = cli("--help").stdout
    from faultedge.cli import COMMANDS

    for name in COMMANDS:
        assert name in out
        sub = cli(name, "--help").stdout
        assert f"faultedge {name}" in sub and "--" in sub


def test_cli_trains_on_synthetic_data_and_reports_errors(tmp_path):
    out = tmp_path / "syn"
    res = cli("train", "--out", str(out), "--n-train", "30", "--epochs", "1", "1", "1", "--quiet")
    assert "merged" in res.stdout and (out / "student_merged.pt").is_file()
    bad = cli("train", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "x"), check=False)
    assert bad.returncode == 2 and "CWRU data directory not found" in bad.stderr and "Traceback" not in bad.stderr


def test_a_wider_student_goes_through_the_chain_and_quantisation_exactly(tmp_path):
    """--student-channels 8: every stage, the evaluation and QAT build the run's width, and golden == Brevitas."""
    from faultedge.eval.robustness import load_classifier
    from faultedge.families import family
    from faultedge.ir import IRModel
    from faultedge.quant.qat import QATConfig
    from faultedge.quant.stage import quantize

    cfg = TrainConfig(data=DataSpec(split=SplitSpec(n_train=40, n_val=20, n_test=20)), teacher=FitConfig(epochs=1),
                      student=FitConfig(epochs=1), lora=FitConfig(epochs=1), student_channels=8)
    run = RunDir(tmp_path / "wide")
    metrics = run_stages(run, cfg, progress=False)
    assert metrics["merge"]["params"] == 8 * 65 + 8 * 64 * 10 + 10 == 5_650  # conv 8 x (64 + 1); fc (8 x 64 pooled) x 10 + 10
    assert metrics["merge"]["macs"] == 8 * 128 * 64 + 512 * 10  # twice the 2,830-parameter student's 35,328
    model, _ = family("student").float_model(run)
    assert model.conv.out_channels == 8 and TrainConfig.from_dict(json.loads((run / "config.json").read_text())) == cfg
    assert load_classifier(run, "merged")(None, torch.zeros(3, 1024).numpy()).shape == (3,)
    entry = quantize(run, family("student"), QATConfig(bits=8, epochs=1), progress=False)
    assert entry["golden_vs_brevitas"]["mismatched_logits"] == 0 and entry["golden_vs_brevitas"]["samples"] > 0
    assert IRModel.load(run / "model.ir.json").macs == 8 * 128 * 64 + 512 * 10
    with pytest.raises(RunDirError, match="student_channels: expected at least 1, got 0"):
        TrainConfig(student_channels=0)


def test_envelope_features_train_quantise_and_export_exactly(tmp_path):
    """--features fft+envelope: the chain trains on them, the 8-bit IR is exact and carries the envelope front end (its
    golden model runs from raw samples), and the ONNX front ends (numpy's FFTs, the graph's DFTs) compute the spec's features."""
    from faultedge.edge.onnx_export import FEATURE_TOL, export
    from faultedge.eval.robustness import available_models, evaluate_run
    from faultedge.families import family
    from faultedge.ir import IRModel
    from faultedge.quant.qat import QATConfig
    from faultedge.quant.stage import quantize

    cfg = TrainConfig(data=DataSpec(split=SplitSpec(n_train=40, n_val=20, n_test=20)), teacher=FitConfig(epochs=1),
                      student=FitConfig(epochs=1), lora=FitConfig(epochs=1), features="fft+envelope")
    run = RunDir(tmp_path / "env")
    run_stages(run, cfg, progress=False)
    assert json.loads((run / "preprocessing.json").read_text())["version"] == 2
    entry = quantize(run, family("student"), QATConfig(bits=8, epochs=1), progress=False)
    assert entry["golden_vs_brevitas"]["mismatched_logits"] == 0 and entry["golden_vs_brevitas"]["samples"] > 0
    assert IRModel.load(run / "model.ir.json").frontend.features == "fft+envelope"
    assert {"quant", "chip"} <= set(available_models(run))
    chip = evaluate_run(run, ["chip", "merged"], snrs=[None], progress=False)["results"]
    assert all(r["accuracy"] > 0 for r in chip)
    report = export(run)
    assert max(report["parity"]["features_max_abs_diff"].values()) <= FEATURE_TOL
    assert report["parity"]["fp32_window"]["argmax_agree"] == report["parity"]["windows"]
    with pytest.raises(RunDirError, match="features: expected one of fft, fft\\+envelope, got 'cwt'"):
        TrainConfig(features="cwt")
