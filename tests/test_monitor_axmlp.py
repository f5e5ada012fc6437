"""`faultedge monitor --network axmlp` (and `faultedge predict --network axmlp`): the onnx back end runs the
axial-shift MLP's own ONNX models on a real CWRU stream, with the run's window and preprocessing, and the
golden back end its integer IR; a run without the network asked for is refused, naming the command that
makes it."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from test_monitor_fpga import _build_report, tiny_run  # noqa: F401 - tiny_run is a fixture

from faultedge.cli import main
from faultedge.data.features import Preprocessing
from faultedge.edge.artifacts import report_name
from faultedge.edge.predictor import predict_file
from faultedge.edge.streaming import softmax
from faultedge.families import AXIAL_MLP
from faultedge.ir.frontend import frame
from faultedge.monitor.backends import GoldenBackend, OnnxBackend, make_backend
from faultedge.monitor.outputs import JsonLines
from faultedge.monitor.runtime import Monitor, MonitorSettings
from faultedge.monitor.sources import Replay, read_recording
from faultedge.quant.qat import QATConfig
from faultedge.quant.stage import quantize
from faultedge.runs import RunDir, read_json

FAULT_FILE, NORMAL_FILE = "209_0.mat", "97_Normal_0.mat"  # IR021 and normal, 0 hp
HOP = 512


def _test_part(cwru_dir, name: str) -> np.ndarray:
    x = read_recording(cwru_dir / name)
    return x[int(len(x) * 2 / 3) :]  # the time split's test part: never trained on


@pytest.fixture(scope="module")
def mlp_run(axmlp_run, tmp_path_factory):
    """A copy of the trained MLP run without what quantisation wrote (another test may have quantised the shared run):
    the monitor exports its fp32 models itself."""
    run = RunDir(tmp_path_factory.mktemp("monitor_axmlp") / "run")
    shutil.copytree(axmlp_run.path, run.path)
    for pattern in ("model_axmlp*.ir.json", "qat_axmlp*.pt", "golden_vectors_axmlp*.npz"):
        for path in run.path.glob(pattern):
            path.unlink()
    return run


@pytest.fixture(scope="module")
def quantised_run(axmlp_run, tmp_path_factory):
    """Another copy, quantised at 8 bits (one QAT epoch): model_axmlp.ir.json for the golden back end."""
    run = RunDir(tmp_path_factory.mktemp("monitor_axmlp_q") / "run")
    shutil.copytree(axmlp_run.path, run.path)
    quantize(run, AXIAL_MLP, QATConfig(epochs=1), progress=False)
    return run


@pytest.fixture(scope="module")
def stream(cwru_dir):
    """normal -> IR021 -> normal from the 0 hp test parts, 24 hops each."""
    normal, fault = _test_part(cwru_dir, NORMAL_FILE), _test_part(cwru_dir, FAULT_FILE)
    n = 24 * HOP
    return np.concatenate([normal[:n], fault[:n], normal[n : 2 * n]]), n


def test_the_onnx_back_end_runs_the_mlps_models_on_a_real_stream(mlp_run, stream, tmp_path):
    x, n = stream
    backend = make_backend("onnx", mlp_run, network="axmlp")
    assert isinstance(backend, OnnxBackend) and backend.name == "onnx fp32 axmlp (CPUExecutionProvider)"
    report = read_json(mlp_run / "onnx" / report_name("axmlp"))  # exported on first use, into the MLP's own files
    assert report["network"] == "axmlp" and report["float_weights"] == "axmlp.pt"
    assert not (mlp_run / "onnx" / "export.json").exists() and not (mlp_run / "onnx" / "model_fp32.onnx").exists()
    prep = Preprocessing.from_dict(read_json(mlp_run / "preprocessing.json"))
    assert backend.window == prep.window and backend.labels == tuple(report["labels"])

    # its probabilities are the MLP's: the torch network on the run's features of the same windows
    windows = frame(x, backend.window, HOP)
    with torch.no_grad():
        ref = softmax(AXIAL_MLP.float_model(mlp_run)[0](torch.from_numpy(prep(windows))).numpy().astype(np.float64))
    got = backend.scores(windows).probabilities
    assert np.abs(got - ref).max() < 1e-4 and np.array_equal(got.argmax(1), ref.argmax(1))

    out = tmp_path / "events.jsonl"
    summary = Monitor(backend, [Replay("motor", samples=x, chunk=300)], [JsonLines(out)], MonitorSettings(hop=HOP)).run()
    events = [json.loads(line) for line in out.read_text().splitlines()]
    assert summary["backend"] == backend.name and summary["channels"]["motor"]["hops"] == len(windows)
    first = -(-(n - backend.window + 1) // HOP)  # the first window reaching into the fault
    changes = [(e["type"], e["class"], e["hop"] - first) for e in events if e["type"] != "hop"]
    assert changes[0][:2] == ("alarm", "IR021") and 0 <= changes[0][2] <= 5, changes
    assert changes[-1][:2] == ("clear", "normal"), changes

    # the CLI gives the same alarm events, and `predict --network` the same per-window classes
    np.save(tmp_path / "stream.npy", x)
    cli_out = tmp_path / "cli.jsonl"
    assert main(["monitor", str(mlp_run.path), "--network", "axmlp", "--replay", f"motor={tmp_path / 'stream.npy'}",
                 "--events", "changes", "--out", str(cli_out)]) == 0
    assert [json.loads(line) for line in cli_out.read_text().splitlines()] == [e for e in events if e["type"] != "hop"]
    res = predict_file(mlp_run, tmp_path / "stream.npy", hop=HOP, network="axmlp")
    assert res["network"] == "axmlp" and [p["class"] for p in res["predictions"]] == got.argmax(1).tolist()


def test_a_run_without_the_network_is_refused_naming_the_command(mlp_run, tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros(4096))
    replay = ["--replay", str(tmp_path / "x.npy")]
    assert main(["monitor", str(mlp_run.path), *replay]) == 2  # the student by default, which this run lacks
    assert "has no student_merged.pt: run `faultedge train" in capsys.readouterr().err
    assert main(["monitor", str(mlp_run.path), "--network", "axmlp", "--backend", "golden", *replay]) == 2  # not quantised
    assert f"no 8-bit IR of network axmlp; run `faultedge quantize {mlp_run.path} --network axmlp --bits 8` first" in capsys.readouterr().err
    assert main(["predict", str(mlp_run.path), "--input", str(tmp_path / "x.npy")]) == 2
    assert "has no student_merged.pt" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["monitor", str(mlp_run.path), "--network", "teacher", *replay])  # no ONNX models: not a choice
    assert "invalid choice: 'teacher' (choose from 'student', 'axmlp')" in capsys.readouterr().err


def test_a_board_runs_its_design_points_network(tiny_run, tmp_path, capsys):
    """--network does not pick a board's network: the run's design point did, and another is refused."""
    np.save(tmp_path / "x.npy", np.zeros(64))
    _build_report(tiny_run, 9600)
    assert main(["monitor", str(tiny_run.path), "--network", "axmlp", "--backend", "fpga", "--port", "/dev/null",
                 "--replay", str(tmp_path / "x.npy")]) == 2
    assert "--network axmlp: the board runs the network of the run's design point, student" in capsys.readouterr().err


def test_the_golden_back_end_runs_the_mlps_integer_ir(quantised_run, stream, tmp_path):
    x, n = stream
    backend = make_backend("golden", quantised_run, network="axmlp")
    assert isinstance(backend, GoldenBackend) and backend.name == "golden 8-bit axmlp" and backend.window == 2048
    out = tmp_path / "events.jsonl"
    Monitor(backend, [Replay("motor", samples=x, chunk=700)], [JsonLines(out)], MonitorSettings(hop=HOP)).run()
    events = [json.loads(line) for line in out.read_text().splitlines()]
    hops = [e for e in events if e["type"] == "hop"]
    assert all(len(e["logits"]) == 10 for e in hops)  # the integer model's own verdicts ride on each hop
    # the integer MLP and its int8 ONNX model (the same QAT network) name the same class on nearly every window
    onnx = OnnxBackend(quantised_run, "int8", "axmlp").scores(frame(x, 2048, HOP)).probabilities.argmax(1)
    assert np.mean(np.array(backend.labels)[onnx] == np.array([e["window_class"] for e in hops])) >= 0.95
    first = -(-(n - backend.window + 1) // HOP)
    changes = [(e["type"], e["class"], e["hop"] - first) for e in events if e["type"] != "hop"]
    assert changes[0][:2] == ("alarm", "IR021") and 0 <= changes[0][2] <= 5 and changes[-1][0] == "clear", changes
