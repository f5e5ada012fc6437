"""`faultedge predict`: classify a recording window by window with ONNX Runtime.

The inference itself is faultedge.edge.runner (the same code a bundle runs on a device); this
module adds what only faultedge has: run directories, .mat files, and faultedge's error types.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from faultedge.data.cwru import drive_end_signal, read_mat
from faultedge.edge import runner
from faultedge.edge.artifacts import load_spec, model_path, user_errors
from faultedge.edge.exported import ensure_exported
from faultedge.errors import RunDirError
from faultedge.families import EXPORTED, STUDENT_NAME, Family, family
from faultedge.runs import RunDir


def exported_family(network: str) -> Family:
    """The family named `network`, refused unless it has ONNX models (`faultedge export`'s networks)."""
    fam = family(network)
    if "export" not in fam.steps:
        raise RunDirError(f"network {network} has no ONNX models; the networks with them are {', '.join(EXPORTED)}")
    return fam


def load_classifier(run: RunDir, precision: str = "fp32", graph_fft: bool = False, providers: Sequence[str] | None = None,
                    threads: int = 1, network: str = STUDENT_NAME) -> tuple[runner.Classifier, dict[str, Any]]:
    """The fast-path classifier of a run's network (FFT in numpy) or the single-file one (FFT in the graph).

    Exports the family's ONNX models first when they are missing or older than the weights (a run
    without that trained network is refused, naming the command that trains it). The spec (window,
    preprocessing) is the run's, whichever network classifies.
    """
    report = ensure_exported(run, exported_family(network))
    front = "window" if graph_fft else "magnitude"
    _, spec = load_spec(run)
    with user_errors():
        return runner.Classifier(model_path(run, report, precision, front), spec, providers, threads), report


def read_recording(path: Path) -> np.ndarray:
    """Samples from a CWRU-style .mat (its drive-end variable), a .npy array or a text/.csv file."""
    if path.suffix.lower() == ".mat":
        return drive_end_signal(path, read_mat(path))[1]
    with user_errors():
        return runner.read_input(str(path))


def predict_file(run: RunDir, path: Path, precision: str = "fp32", graph_fft: bool = False, providers: Sequence[str] | None = None,
                 threads: int = 1, hop: int | None = None, network: str = STUDENT_NAME) -> dict[str, Any]:
    """Per-window classes of a recording (consecutive windows unless `hop` is given; a shorter tail is ignored)."""
    clf, report = load_classifier(run, precision, graph_fft, providers, threads, network)
    data = read_recording(path)
    with user_errors(), np.errstate(over="ignore", invalid="ignore"):  # bad samples raise, naming them
        windows, starts, ignored = runner.windows_from_array(data, clf.spec.window, hop or clf.spec.window, str(path))
        logits = clf.logits(windows, str(path))
    info = {"input": str(path), "network": network, "precision": precision, "provider": clf.provider,
            "preprocessing": "graph DFT" if graph_fft else "numpy FFT"}
    return runner.results(logits, starts, report["labels"], ignored, info)
