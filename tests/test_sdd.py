"""Teacher-free dynamic distillation (seed 004): the dynamic teacher's parts and losses, one-stage training on the
embedded synthetic data, the student saved alone, and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from faultedge.data.dataset import DataSpec
from faultedge.data.splits import SplitSpec
from faultedge.errors import RunDirError
from faultedge.families import family
from faultedge.models.axial_mlp import AxialMLP
from faultedge.models.student import Student
from faultedge.runs import RunDir
from faultedge.train.loop import FitConfig
from faultedge.train.pipeline import TrainConfig
from faultedge.train.sdd import (CNNParts, DynamicDistillation, SDDConfig, SDDSpec, build_student, feature_kl, load_student,
                                 train_sdd)

SMALL = TrainConfig(data=DataSpec(split=SplitSpec(n_train=40, n_val=15, n_test=20)), student=FitConfig(epochs=6, patience=6))


def _spec(**sdd) -> SDDSpec:
    return SDDSpec(SMALL, SDDConfig(**sdd))


@pytest.fixture(scope="module")
def dynamic_run(tmp_path_factory):
    run = RunDir(tmp_path_factory.mktemp("sdd") / "axmlp")
    return run, train_sdd(run, _spec(), progress=False)


def test_one_stage_saves_the_student_alone(dynamic_run):
    run, metrics = dynamic_run
    entry = metrics["axmlp_dynamic"]
    assert entry["params"] == 2_413 and entry["macs"] == 28_032 and entry["test"]["n"] == 200
    assert entry["training_params"] > 3 * entry["params"]  # the dynamic teacher trained beside it
    state = torch.load(run / "axmlp.pt", weights_only=True)
    assert not any(k.startswith(("teacher", "adapt", "student.")) for k in state)
    model, name = family("axmlp").float_model(run)
    assert name == "axmlp.pt" and isinstance(model, AxialMLP)
    saved = json.loads((run / "metrics.json").read_text())["axmlp_dynamic"]
    assert saved["test"]["accuracy"] == entry["test"]["accuracy"] > 10.0  # above chance after 6 short epochs
    for name in ("config.json", "sdd_config.json", "preprocessing.json", "confusion_axmlp_dynamic.png"):
        assert (run / name).is_file(), name


def test_seeded_training_repeats_exactly(dynamic_run, tmp_path):
    run, _ = dynamic_run
    again = RunDir(tmp_path / "again")
    train_sdd(again, _spec(), progress=False)
    a, b = torch.load(run / "axmlp.pt", weights_only=True), torch.load(again / "axmlp.pt", weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_run_directory_keeps_its_settings(dynamic_run):
    run, _ = dynamic_run
    with pytest.raises(RunDirError, match="holds different dynamic-distillation settings"):
        train_sdd(run, _spec(temperature=2.0), progress=False)
    with pytest.raises(RunDirError, match="student must be one of axmlp, cnn"):
        SDDConfig(student="lstm")


def test_the_cnn_student_with_the_dynamic_teacher_and_the_mlp_alone(tmp_path):
    cnn = train_sdd(RunDir(tmp_path / "cnn"), _spec(student="cnn"), progress=False)["cnn_dynamic"]
    assert cnn["params"] == 2_830 and cnn["macs"] == 35_328
    model, name = load_student(RunDir(tmp_path / "cnn"))
    assert name == "student_sdd.pt" and isinstance(model, Student)  # a plain student: the chain's tools read it
    alone = train_sdd(RunDir(tmp_path / "alone"), _spec(distill="none"), progress=False)["axmlp_none"]
    assert alone["training_params"] == alone["params"] == 2_413


def test_the_teacher_reads_the_student_but_does_not_train_it():
    """The teacher's CE reaches the shared head and the teacher, not the student's backbone (its appearance input is detached);
    the KL terms reach the student only (the teacher is detached in them)."""
    torch.manual_seed(0)
    student = build_student(SDDConfig(), 1024)
    model = DynamicDistillation(student, 64, 8, SDDConfig())
    x, y = torch.randn(16, 1024), torch.randint(0, 10, (16,))
    terms = model.losses(x, y)
    torch.nn.functional.cross_entropy(terms["teacher"], y).backward()
    assert student.embed.weight.grad is None and student.fc.weight.grad.abs().sum() > 0
    assert model.teacher.label.weight.grad.abs().sum() > 0
    model.zero_grad(set_to_none=True)
    (terms["kl"] + terms["feature_kl"]).backward()
    assert student.embed.weight.grad.abs().sum() > 0 and model.teacher.label.weight.grad is None


def test_the_teacher_depends_on_the_label_and_on_the_appearance():
    torch.manual_seed(0)
    model = DynamicDistillation(build_student(SDDConfig(), 1024), 64, 8, SDDConfig()).eval()
    x = torch.randn(4, 1024)
    tokens = model.student.features(x)
    a, b = model.teacher(tokens, torch.zeros(4, dtype=torch.long)), model.teacher(tokens, torch.ones(4, dtype=torch.long))
    c = model.teacher(model.student.features(torch.randn(4, 1024)), torch.zeros(4, dtype=torch.long))
    assert a.shape == tokens.shape and not torch.allclose(a, b) and not torch.allclose(a, c)


def test_feature_kl_is_zero_for_equal_maps_and_the_cnn_split_equals_the_student():
    t = torch.randn(3, 64, 4)
    assert float(feature_kl(t, t, 4.0)) == pytest.approx(0.0, abs=1e-6)
    assert float(feature_kl(t, torch.randn(3, 64, 4), 4.0)) > 0
    net = Student()
    x = torch.randn(5, 1024)
    assert torch.allclose(CNNParts(net)(x), net(x), atol=1e-6)


def test_cli_trains_the_mlp_in_one_stage(tmp_path):
    out = tmp_path / "cli"
    res = subprocess.run([sys.executable, "-m", "faultedge.cli", "train", "--network", "axmlp", "--distill", "none", "--out", str(out),
                          "--n-train", "20", "--epochs", "1", "2", "1", "--quiet"], capture_output=True, text=True, check=True)
    assert "axmlp_none" in res.stdout and (out / "axmlp.pt").is_file()
    bad = subprocess.run([sys.executable, "-m", "faultedge.cli", "train", "--network", "axmlp", "--stage", "lora", "--out", str(out)],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "--stage applies to the student chain" in bad.stderr and "Traceback" not in bad.stderr
