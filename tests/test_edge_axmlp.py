"""ONNX export and edge bundles of the axial-shift MLP: parity with PyTorch/Brevitas on real CWRU test
windows, the shift and the residual add as plain ONNX ops, files apart from the student's in one run
directory, and the bundle's run.py in a venv with only numpy and onnxruntime."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import onnx
import pytest
import torch
from test_edge_bundle import clean_env, runner_python  # noqa: F401 - runner_python is a fixture

from faultedge.cli import main
from faultedge.data.features import Preprocessing
from faultedge.edge import bundle, onnx_export, runner
from faultedge.edge.artifacts import OnnxModel, fresh_report, model_path, report_name
from faultedge.edge.exported import ensure_exported
from faultedge.families import AXIAL_MLP
from faultedge.flow.config import FlowConfig
from faultedge.flow.runner import run_step
from faultedge.ir.files import Artifacts
from faultedge.quant.qat import QATConfig
from faultedge.quant.stage import quantize
from faultedge.runs import RunDir, read_json

FRONTS = ("features", "magnitude", "window")


@pytest.fixture(scope="module")
def exported_axmlp(axmlp_run, tmp_path_factory):
    """A copy of the trained MLP run, quantised at 8 bits and exported through the flow's export step."""
    run = RunDir(tmp_path_factory.mktemp("axmlp_edge") / "run")
    shutil.copytree(axmlp_run.path, run.path)
    quantize(run, AXIAL_MLP, QATConfig(epochs=1), progress=False)
    lines: list[str] = []
    report = run_step(run, FlowConfig(network=AXIAL_MLP.name), "export", log=lines.append)
    return run, report, lines


def test_export_matches_pytorch_and_brevitas_on_the_whole_test_set(exported_axmlp):
    run, report, lines = exported_axmlp
    parity = report["parity"]
    assert report["network"] == "axmlp" and report["float_weights"] == "axmlp.pt" and parity["windows"] == 1000
    assert report["quantisation"]["network"] == "axmlp" and report["quantisation"]["bits"] == 8
    assert report["models"] == {f"{p}_{f}": OnnxModel(p, f, "axmlp").name for p in ("fp32", "int8") for f in FRONTS}
    assert OnnxModel("int8", "magnitude", "axmlp").name == "model_int8_qdq_axmlp_magnitude.onnx"
    assert parity["fp32_features"]["max_abs_logit_diff"] <= onnx_export.LOGIT_TOL
    assert parity["int8_features"]["max_abs_logit_diff"] == 0.0  # integer arithmetic on power-of-two grids: exact in float32
    for key in report["models"]:
        assert parity[key]["argmax_agree"] == 1000, key
    assert any("model_int8_qdq_axmlp.onnx" in line for line in lines)
    # Independently of export's own check: reload the files and compare with the torch networks.
    windows, _ = onnx_export.test_windows(run)
    features = Preprocessing.from_dict(read_json(run / "preprocessing.json"))(windows)
    with torch.no_grad():
        refs = {"fp32": AXIAL_MLP.float_model(run)[0](torch.from_numpy(features)).numpy(),
                "int8": AXIAL_MLP.load_qat(run, 8)(torch.from_numpy(features)).numpy()}
    for precision, ref in refs.items():
        path = model_path(run, report, precision, "features")
        onnx.checker.check_model(onnx.load(path), full_check=True)
        got = runner.make_session(path, ["CPUExecutionProvider"]).run(None, {"features": features})[0]
        assert np.abs(got - ref).max() <= onnx_export.LOGIT_TOL
        np.testing.assert_array_equal(got.argmax(1), ref.argmax(1))


def test_the_shift_and_the_residual_add_are_plain_onnx_ops(exported_axmlp):
    """Channel groups move as slices padded with zeros (no ScatterND per channel); the int8 graph is QDQ around float ops."""
    run, report, _ = exported_axmlp
    for precision in ("fp32", "int8"):
        ops = {n.op_type for n in onnx.load(model_path(run, report, precision, "features")).graph.node}
        assert {"Slice", "Pad", "Concat", "Add"} <= ops and "ScatterND" not in ops, precision
    int8 = onnx.load(model_path(run, report, "int8", "features"))
    assert {"QuantizeLinear", "DequantizeLinear"} <= {n.op_type for n in int8.graph.node}
    assert any(init.data_type == onnx.TensorProto.INT8 for init in int8.graph.initializer)


def test_a_run_keeps_the_students_and_the_mlps_models_apart(edge_run, exported_axmlp, tmp_path):
    """One run directory with both networks: separate files and reports, each fresh or stale by its own sources."""
    student_run, student_report = edge_run
    mlp_run, mlp_report, _ = exported_axmlp
    assert (student_run / "preprocessing.json").read_bytes() == (mlp_run / "preprocessing.json").read_bytes()  # one data spec
    run = RunDir(tmp_path / "both")
    shutil.copytree(student_run.path, run.path)
    for name in ("axmlp.pt", "sdd_config.json", Artifacts("axmlp", 8).qat, "onnx/" + report_name("axmlp"), *("onnx/" + n for n in mlp_report["models"].values())):
        shutil.copyfile(mlp_run / name, run / name)
    assert not set(student_report["models"].values()) & set(mlp_report["models"].values())
    assert fresh_report(run, "student") == student_report and fresh_report(run, "axmlp") == mlp_report
    qat = run / Artifacts("axmlp", 8).qat
    saved = qat.read_bytes()
    qat.write_bytes(saved + b"\0")  # the MLP's QAT weights change
    assert fresh_report(run, "axmlp") is None and fresh_report(run, "student") == student_report
    qat.write_bytes(saved)
    assert fresh_report(run, "axmlp") == mlp_report
    assert ensure_exported(run, AXIAL_MLP) == mlp_report  # fresh: nothing is exported again


def test_bundle_runs_in_a_venv_with_only_numpy_and_onnxruntime(exported_axmlp, runner_python, tmp_path):
    run, report, _ = exported_axmlp
    out = tmp_path / "bundle"
    manifest = bundle.deploy(run, "x86-cpu", out, family=AXIAL_MLP)
    models = {f"{p}_{f}": OnnxModel(p, f, "axmlp").name for p in ("fp32", "int8") for f in ("magnitude", "window")}
    assert manifest["network"] == "axmlp" and manifest["models"] == models and manifest["quantisation"]["network"] == "axmlp"
    assert {p.name for p in out.iterdir()} == {"manifest.json", "run.py", "streaming.py", "requirements.txt", "README.md", *models.values()}
    assert runner.verify_bundle(out) == json.loads((out / "manifest.json").read_text())
    assert "axial-shift MLP" in (out / "README.md").read_text()
    windows, _ = onnx_export.test_windows(run)
    np.save(tmp_path / "w.npy", windows[:20])
    features = Preprocessing.from_dict(read_json(run / "preprocessing.json"))(windows[:20])
    with torch.no_grad():
        expected = {"fp32": AXIAL_MLP.float_model(run)[0](torch.from_numpy(features)).argmax(1).tolist(),
                    "int8": AXIAL_MLP.load_qat(run, 8)(torch.from_numpy(features)).argmax(1).tolist()}
    for precision, graph_fft in (("fp32", False), ("int8", True)):
        args = [str(out / "run.py"), str(tmp_path / "w.npy"), "--format", "json", "--precision", precision] + ["--graph-fft"] * graph_fft
        res = subprocess.run([str(runner_python), *args], capture_output=True, text=True, env=clean_env(), cwd=tmp_path)
        assert res.returncode == 0, res.stderr
        assert [p["class"] for p in json.loads(res.stdout)["predictions"]] == expected[precision], precision


def test_cli_names_the_network_and_what_trains_it(edge_run, exported_axmlp, capsys):
    run, report, _ = exported_axmlp
    written = (run / "onnx" / report_name("axmlp")).stat().st_mtime_ns
    assert main(["deploy", str(run.path), "--board", "rpi4", "--network", "axmlp"]) == 0
    assert (run / "bundle" / "rpi4_axmlp" / "model_int8_qdq_axmlp_magnitude.onnx").is_file()
    assert (run / "onnx" / report_name("axmlp")).stat().st_mtime_ns == written  # still fresh: deploy exported nothing
    capsys.readouterr()
    assert main(["export", str(edge_run[0].path), "--network", "axmlp"]) == 2
    assert f"has no trained axial-shift MLP: run `faultedge train --network axmlp --out {edge_run[0].path}` first" in capsys.readouterr().err
    assert main(["deploy", str(run.path), "--board", "rpi4"]) == 2  # the student by default, which this run lacks
    assert "has no student_merged.pt: run `faultedge train" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["export", str(run.path), "--network", "teacher"])  # no export step: not a choice
    assert "invalid choice: 'teacher' (choose from 'student', 'axmlp')" in capsys.readouterr().err
