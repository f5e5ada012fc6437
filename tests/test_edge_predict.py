"""The ORT predictor: provider choice, input validation, recordings from .mat/.npy/.csv, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from faultedge.data.features import Preprocessing
from faultedge.cli import main
from faultedge.edge import onnx_export, runner
from faultedge.edge.predictor import load_classifier, predict_file
from faultedge.errors import DataError
from faultedge.families import STUDENT
from faultedge.runs import read_json


@pytest.fixture(scope="module")
def classifiers(edge_run):
    run, _ = edge_run
    return {(p, g): load_classifier(run, p, g)[0] for p in ("fp32", "int8") for g in (False, True)}


def test_classes_equal_pytorch_on_real_noisy_test_windows(edge_run, classifiers):
    run, _ = edge_run
    windows, labels = onnx_export.test_windows(run)
    with torch.no_grad():
        ref = STUDENT.float_model(run)[0](torch.from_numpy(Preprocessing.from_dict(read_json(run / "preprocessing.json"))(windows))).argmax(1).numpy()
    for graph_fft in (False, True):
        clf = classifiers[("fp32", graph_fft)]
        np.testing.assert_array_equal(clf.classify(windows), ref)
        # one window at a time (the buffered batch-1 path) gives the same classes
        assert [int(clf.classify(w)[0]) for w in windows[:50]] == ref[:50].tolist()
    assert (classifiers[("int8", False)].classify(windows) == labels).mean() > 0.8
    assert classifiers[("fp32", False)].provider == "CPUExecutionProvider"


def test_provider_and_thread_choice():
    assert runner.choose_providers() == ["CPUExecutionProvider"]  # this machine has no GPU build of onnxruntime
    assert runner.choose_providers(["TensorrtExecutionProvider", "CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    with pytest.raises(runner.RunnerError, match="none of the requested providers"):
        runner.choose_providers(["CUDAExecutionProvider"])


def test_thread_setting_reaches_the_session(edge_run):
    clf, _ = load_classifier(edge_run[0], threads=2)
    assert clf.session.get_session_options().intra_op_num_threads == 2


@pytest.mark.parametrize("graph_fft", [False, True])
def test_bad_windows_get_clear_errors(classifiers, graph_fft):
    clf = classifiers[("fp32", graph_fft)]
    good = np.random.default_rng(0).standard_normal((3, 2048))
    cases = [
        (good[:, :2000], "each window must have 2048 samples, got 2000"),
        (good.reshape(3, 1, 2048), r"expected shape \(N, 2048\)"),
        (good.astype(str), "samples must be real numbers"),
        (good.astype(complex), "samples must be real numbers"),
        (np.zeros((0, 2048)), r"expected shape \(N, 2048\)"),
    ]
    nan = good.copy()
    nan[1, 17] = np.nan
    inf = good.copy()
    inf[2, 5] = -np.inf
    cases += [(nan, "1 non-finite .* first in window 1 at sample 17"), (inf, "first in window 2 at sample 5"),
              (np.full((1, 2048), 1e307), "too large to process")]
    for x, message in cases:
        with pytest.raises(runner.RunnerError, match=message), np.errstate(over="ignore", invalid="ignore"):
            clf.classify(x)
    assert clf.classify(good).shape == (3,)  # a failed call leaves the classifier usable


def test_predict_reads_mat_npy_and_csv_alike(edge_run, cwru_dir, tmp_path):
    run, _ = edge_run
    mat = sorted(cwru_dir.glob("*.mat"))[0]
    res = predict_file(run, mat)
    from faultedge.data.cwru import drive_end_signal, read_mat

    signal = drive_end_signal(mat, read_mat(mat))[1]
    n = len(signal) // 2048
    assert res["windows"] == n and res["ignored_tail_samples"] == len(signal) - n * 2048
    assert [p["start"] for p in res["predictions"][:3]] == [0, 2048, 4096]
    part = signal[: 3 * 2048 + 100]
    np.save(tmp_path / "rec.npy", part)
    np.savetxt(tmp_path / "rec.csv", part[:, None], delimiter=",")
    np.savetxt(tmp_path / "windows.csv", part[: 3 * 2048].reshape(3, 2048), delimiter=",")
    classes = [p["class"] for p in res["predictions"][:3]]
    for name, ignored in (("rec.npy", 100), ("rec.csv", 100), ("windows.csv", 0)):
        r = predict_file(run, tmp_path / name)
        assert [p["class"] for p in r["predictions"]] == classes and r["ignored_tail_samples"] == ignored
    assert predict_file(run, tmp_path / "rec.npy", hop=1024)["windows"] == 5  # starts 0, 1024, ..., 4096


def test_unreadable_inputs_are_refused(edge_run, tmp_path):
    run, _ = edge_run
    (tmp_path / "junk.npy").write_bytes(b"not an array")
    (tmp_path / "junk.mat").write_bytes(b"not a mat file")
    (tmp_path / "ragged.csv").write_text("1,2,3\n4,5\n")
    (tmp_path / "words.csv").write_text("a,b\n")
    np.save(tmp_path / "short.npy", np.zeros(100))
    np.save(tmp_path / "cube.npy", np.zeros((2, 2, 2048)))
    for name, message in (("missing.npy", "file not found"), ("junk.npy", "not a readable .npy"), ("junk.mat", "not a readable MATLAB"),
                          ("ragged.csv", "different numbers of values"), ("words.csv", "not a table of numbers"),
                          ("short.npy", "100 samples is shorter than one window"), ("cube.npy", "expected a 1-D recording")):
        with pytest.raises(DataError, match=message):
            predict_file(run, tmp_path / name)


def test_predict_cli_prints_writes_and_fails_cleanly(edge_run, tmp_path, capsys):
    run, _ = edge_run
    windows, _ = onnx_export.test_windows(run)
    np.save(tmp_path / "w.npy", windows[:4])
    cli = ["predict", str(run.path), "--input"]
    assert main(cli + [str(tmp_path / "w.npy"), "--out", str(tmp_path / "out.json")]) == 0
    out = capsys.readouterr().out
    assert "4 window(s): majority" in out and "CPUExecutionProvider" in out
    res = json.loads((tmp_path / "out.json").read_text())
    assert res["windows"] == 4 and res["provider"] == "CPUExecutionProvider" and len(res["predictions"]) == 4
    bad = windows[:1].copy()
    bad[0, 3] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    assert main(cli + [str(tmp_path / "nan.npy"), "--out", str(tmp_path / "nan.json")]) == 2
    assert "non-finite (NaN/Inf)" in capsys.readouterr().err and not (tmp_path / "nan.json").exists()
    assert main(cli + [str(tmp_path / "w.npy"), "--out", str(tmp_path / "out.txt")]) == 2
    assert "use a .json or .csv file name" in capsys.readouterr().err
    # the installed entry point end to end, once
    res = subprocess.run([sys.executable, "-m", "faultedge.cli", *cli, str(tmp_path / "w.npy"), "--format", "csv"], capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout.startswith("window,start,class,label,score"), res.stderr
