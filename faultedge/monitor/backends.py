"""What classifies a batch of raw windows: ONNX Runtime (the run's exported model, or a bundle's) or
the integer golden model through its front end (what the FPGA computes). Both give class
probabilities, and both take their window length and labels from the run, never from the user."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from faultedge.edge.streaming import softmax
from faultedge.errors import RunDirError
from faultedge.runs import RunDir

BACKENDS = ("onnx", "golden")
ORT_BLOCK = 64  # windows per ONNX Runtime call


class Backend(Protocol):
    name: str
    window: int
    labels: tuple[str, ...]

    def probabilities(self, windows: np.ndarray) -> np.ndarray:
        """(N, window) raw float samples -> (N, classes) probabilities."""


@dataclass
class OnnxBackend:
    """The run's ONNX model through faultedge.edge.runner (the code a bundle runs on a device)."""

    run: RunDir
    precision: str = "fp32"
    name: str = "onnx"

    def __post_init__(self) -> None:
        from faultedge.edge.artifacts import user_errors
        from faultedge.edge.predictor import load_classifier

        self._clf, report = load_classifier(self.run, self.precision)
        self._errors = user_errors
        self.window, self.labels = self._clf.spec.window, tuple(report["labels"])
        self.name = f"onnx {self.precision} ({self._clf.provider})"

    def probabilities(self, windows: np.ndarray) -> np.ndarray:
        """In blocks of ORT_BLOCK windows, the last one zero-padded: one batch shape, so the classifier's
        bound buffers are made once (a new batch size each call would allocate them every time)."""
        out = np.empty((len(windows), len(self.labels)))
        with self._errors(), np.errstate(over="ignore", invalid="ignore"):
            for i in range(0, len(windows), ORT_BLOCK):
                block = windows[i : i + ORT_BLOCK]
                if len(block) < ORT_BLOCK:
                    block = np.concatenate([block, np.zeros((ORT_BLOCK - len(block), self.window))])
                out[i : i + ORT_BLOCK] = softmax(self._clf.logits(block, "the stream"))[: len(windows) - i]
        return out


@dataclass
class GoldenBackend:
    """The run's integer IR from raw samples: quantised as the ADC would give them, then the integer
    front end and network (faultedge.ir.golden.predict_samples), bit-exact to the accelerator."""

    run: RunDir
    bits: int = 8
    name: str = "golden"

    def __post_init__(self) -> None:
        from faultedge.ir.files import Artifacts
        from faultedge.ir.model import IRModel

        path = self.run / Artifacts("student", self.bits).ir
        if not path.exists():
            raise RunDirError(f"{path}: no {self.bits}-bit IR; run `faultedge quantize {self.run.path} --bits {self.bits}` first")
        self._ir = IRModel.load(path)
        if self._ir.frontend is None:
            raise RunDirError(f"{path}: this IR has no integer front end (raw samples in); re-run `faultedge quantize {self.run.path}`")
        self.window = self._ir.frontend.window
        self.labels = tuple(self._ir.classes)
        self.name = f"golden {self.bits}-bit"

    def probabilities(self, windows: np.ndarray) -> np.ndarray:
        from faultedge.ir.frontend import quantize_samples
        from faultedge.ir.golden import dequantized_logits, predict_samples

        logits = predict_samples(self._ir, quantize_samples(self._ir.frontend, windows)).logits
        return softmax(dequantized_logits(self._ir, logits))


def make_backend(name: str, run: RunDir, precision: str = "fp32", bits: int = 8) -> Backend:
    if name == "onnx":
        return OnnxBackend(run, precision)
    if name == "golden":
        return GoldenBackend(run, bits)
    raise RunDirError(f"unknown back end {name!r}; choose from {', '.join(BACKENDS)}")
