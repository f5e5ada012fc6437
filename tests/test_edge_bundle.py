"""Deployment bundles: contents, checksums, atomic writes, and the runner in a fresh venv that has
only numpy and onnxruntime (cached under .cache/ in the repository, so only the first run pays)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from faultedge.boards import list_boards
from faultedge.edge import bundle, onnx_export, runner, streaming
from faultedge.edge.predictor import load_classifier
from faultedge.errors import FaultedgeError

REPO = Path(__file__).resolve().parents[1]
RUNNER_VENV = REPO / ".cache" / "runner-venv"
RUNNER_REQUIREMENTS = ["numpy", "onnxruntime==1.31.1"]


@pytest.fixture(scope="session")
def runner_python() -> Path:
    """Python of a venv with only numpy + onnxruntime from PyPI; rebuilt when its stamp is missing."""
    python, stamp = RUNNER_VENV / "bin" / "python", RUNNER_VENV / ".installed"
    if not (stamp.exists() and stamp.read_text() == " ".join(RUNNER_REQUIREMENTS)):
        subprocess.run(["python3", "-m", "venv", "--clear", str(RUNNER_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *RUNNER_REQUIREMENTS], check=True, capture_output=True)
        stamp.write_text(" ".join(RUNNER_REQUIREMENTS))
    return python


def clean_env() -> dict[str, str]:
    """No PYTHONPATH: the runner must not find faultedge (or torch) by accident."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}


def test_deploy_writes_a_complete_verified_bundle(edge_run, tmp_path):
    run, report = edge_run
    out = tmp_path / "bundles" / "x86"
    manifest = bundle.deploy(run, "x86-cpu", out)
    names = {p.name for p in out.iterdir()}
    assert names == {"manifest.json", "run.py", "streaming.py", "requirements.txt", "README.md", "model_fp32_magnitude.onnx", "model_fp32_window.onnx",
                     "model_int8_qdq_magnitude.onnx", "model_int8_qdq_window.onnx"}
    assert set(manifest["files"]) == names - {"manifest.json"}
    assert runner.verify_bundle(out) == json.loads((out / "manifest.json").read_text())
    assert (out / "run.py").read_text() == Path(runner.__file__).read_text()
    assert manifest["preprocessing"]["version"] == 1 and len(manifest["labels"]) == 10
    assert manifest["quantisation"]["bits"] == 8 and manifest["versions"]["onnxruntime"] == "1.31.1"
    assert "onnxruntime==1.31.1" in (out / "requirements.txt").read_text()
    assert [p.name for p in out.parent.iterdir()] == ["x86"]  # no temporary directory left behind
    with pytest.raises(FaultedgeError, match="already exists"):
        bundle.deploy(run, "x86-cpu", out)
    (out / "stray.txt").write_text("old")
    bundle.deploy(run, "x86-cpu", out, replace=True)
    assert not (out / "stray.txt").exists() and [p.name for p in out.parent.iterdir()] == ["x86"]


def test_every_board_profile_deploys(edge_run, tmp_path):
    run, _ = edge_run
    assert list_boards("edge") == ["jetson-nano", "jetson-orin-nano", "rpi4", "rpi5", "x86-cpu"]
    for board in list_boards("edge"):
        manifest = bundle.deploy(run, board, tmp_path / board)
        readme = (tmp_path / board / "README.md").read_text()
        if board.startswith("jetson"):
            assert "JetPack" in readme and manifest["board"]["providers"][0] == "TensorrtExecutionProvider"
            pip_lines = [l for l in (tmp_path / board / "requirements.txt").read_text().splitlines() if not l.startswith("#")]
            assert not any("onnxruntime" in l for l in pip_lines)  # JetPack's own build, not PyPI's CPU wheel
        if board.startswith("rpi"):
            assert "aarch64" in readme and "64-bit" in readme and manifest["board"]["arch"] == "aarch64"
    with pytest.raises(FaultedgeError, match="unknown edge board 'pi3'; known: jetson-nano"):
        bundle.deploy(run, "pi3", tmp_path / "pi3")


def test_deploy_failure_leaves_nothing_behind(edge_run, tmp_path, monkeypatch):
    run, _ = edge_run

    def broken(*args):
        raise OSError("disk full")

    monkeypatch.setattr(bundle, "readme", broken)
    with pytest.raises(OSError):
        bundle.deploy(run, "rpi4", tmp_path / "b")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("module, allowed", [(runner, {"numpy", "onnxruntime"}), (streaming, {"numpy"})])
def test_bundle_code_is_python38_syntax_and_imports_only_numpy_and_onnxruntime(module, allowed):
    tree = ast.parse(Path(module.__file__).read_text(), feature_version=(3, 8))
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level == 0}
    assert imported - set(sys.stdlib_module_names) == allowed


def test_runner_in_a_fresh_venv(edge_run, runner_python, tmp_path):
    run, _ = edge_run
    out = tmp_path / "bundle"
    bundle.deploy(run, "x86-cpu", out)
    env = clean_env()
    probe = subprocess.run([str(runner_python), "-c", "import faultedge"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert probe.returncode != 0  # the venv really lacks faultedge
    windows, _ = onnx_export.test_windows(run)
    np.save(tmp_path / "w.npy", windows[:20])
    expected = load_classifier(run)[0].classify(windows[:20]).tolist()

    def run_py(*args, stdin=None):
        return subprocess.run([str(runner_python), str(out / "run.py"), *args], capture_output=True, text=True, env=env, cwd=tmp_path, input=stdin)

    res = run_py(str(tmp_path / "w.npy"), "--format", "json")
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout)
    assert [p["class"] for p in got["predictions"]] == expected and got["provider"] == "CPUExecutionProvider"
    # a recording on stdin, one sample per line, with a tail shorter than a window
    text = "\n".join(f"{v:.17g}" for v in windows[:3].reshape(-1)[: 2 * 2048 + 7])
    res = run_py("-", "--format", "json", stdin=text)
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout)
    assert [p["class"] for p in got["predictions"]] == expected[:2] and got["ignored_tail_samples"] == 7
    res = run_py(str(tmp_path / "w.npy"), "--graph-fft", "--precision", "int8", "--format", "csv")
    assert res.returncode == 0 and len(res.stdout.splitlines()) == 21, res.stderr
    bad = windows[:1].copy()
    bad[0, 9] = np.inf
    np.save(tmp_path / "inf.npy", bad)
    res = run_py(str(tmp_path / "inf.npy"))
    assert res.returncode == 2 and "non-finite" in res.stderr and "Traceback" not in res.stderr
    # tamper with one byte of a model: refused before anything is loaded
    model = out / "model_fp32_magnitude.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 1
    model.write_bytes(bytes(data))
    res = run_py(str(tmp_path / "w.npy"))
    assert res.returncode == 2 and "model_fp32_magnitude.onnx: sha256 mismatch" in res.stderr and "Traceback" not in res.stderr
    model.unlink()
    (out / "README.md").unlink()
    res = run_py(str(tmp_path / "w.npy"))
    assert res.returncode == 2 and "model_fp32_magnitude.onnx: missing" in res.stderr and "README.md: missing" in res.stderr
    (out / "manifest.json").write_text("{not json")
    res = run_py(str(tmp_path / "w.npy"))
    assert res.returncode == 2 and "manifest.json: not valid JSON" in res.stderr


def test_the_bundle_streams_samples_to_alarms_as_the_monitor_does(edge_run, runner_python, cwru_dir, tmp_path):
    """run.py --stream in a venv with only numpy + onnxruntime: the same hop decisions and alarms as
    `faultedge monitor` on a real normal -> fault -> normal CWRU stream, malformed lines skipped."""
    from faultedge.monitor.backends import OnnxBackend
    from faultedge.monitor.outputs import JsonLines
    from faultedge.monitor.runtime import Monitor
    from faultedge.monitor.sources import Replay, read_recording

    run, _ = edge_run
    out = tmp_path / "bundle"
    bundle.deploy(run, "x86-cpu", out)
    parts = [read_recording(cwru_dir / name) for name in ("97_Normal_0.mat", "209_0.mat")]
    parts = [x[int(len(x) * 2 / 3) :] for x in parts]
    n = 16 * 512
    x = np.concatenate([parts[0][:n], parts[1][:n], parts[0][n : 2 * n]])
    lines = [f"{v:.17g}" for v in x]
    lines.insert(3000, "not a sample")
    res = subprocess.run([str(runner_python), str(out / "run.py"), "--stream", "-"], input="\n".join(lines) + "\n", capture_output=True,
                         text=True, env=clean_env(), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "line 3001 is not a list of numbers" in res.stderr
    got = [json.loads(line) for line in res.stdout.splitlines()]
    Monitor(OnnxBackend(run), [Replay("stdin", samples=x, chunk=700)], [JsonLines(tmp_path / "m.jsonl")]).run()
    want = [json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert [(e["type"], e["hop"], e["class"]) for e in got] == [(e["type"], e["hop"], e["class"]) for e in want]
    assert [e["class"] for e in got if e["type"] == "alarm"] == ["IR021"]
