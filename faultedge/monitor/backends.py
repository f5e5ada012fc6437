"""What classifies the windows: ONNX Runtime (the run's exported model, or a bundle's) or the integer
golden model through its front end (what the FPGA computes), both on batches of windows; or the FPGA
itself (faultedge.monitor.board), which takes the channel's sample stream and windows it on the board.
All give class probabilities (`Scores`), and all take their window length and labels from the run,
never from the user. The onnx and golden back ends run one network family of the run (`network`,
the student by default; the families with ONNX models, as `faultedge export --network`): its
ONNX models or its integer IR, on the run's one spec (window, preprocessing)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from faultedge.edge.streaming import softmax
from faultedge.errors import RunDirError
from faultedge.families import STUDENT_NAME
from faultedge.runs import RunDir

if TYPE_CHECKING:
    from faultedge.ir.model import IRModel
    from faultedge.monitor.link import LinkStats

BACKENDS = ("onnx", "golden")  # the back ends on this machine (make_backend); "fpga" is faultedge.monitor.board's
ORT_BLOCK = 64  # windows per ONNX Runtime call


@dataclass(frozen=True)
class Scores:
    """A verdict on N windows: class probabilities and, from the integer model (golden, or the FPGA's replies),
    each window's own class and integer logits, which the hop events carry so a board can be checked bit for bit."""

    probabilities: np.ndarray  # (N, classes)
    logits: np.ndarray | None = None  # int64 (N, classes)
    classes: np.ndarray | None = None  # (N,)

    def __len__(self) -> int:
        return len(self.probabilities)


def _tag(network: str) -> str:
    """What a back end's name adds for a network other than the student (whose names stay as they were)."""
    return "" if network == STUDENT_NAME else f" {network}"


def integer_scores(ir: IRModel, logits: np.ndarray, classes: np.ndarray) -> Scores:
    """The integer model's logits -> probabilities: the softmax of the logits at the IR's output scale (one
    home for golden and the FPGA, so both give the same probabilities for the same logits)."""
    from faultedge.ir.golden import dequantized_logits

    logits = np.asarray(logits, dtype=np.int64).reshape(-1, len(ir.classes))
    return Scores(softmax(dequantized_logits(ir, logits)), logits, np.asarray(classes, dtype=np.int64).reshape(-1))


class Backend(Protocol):
    """Classifies batches of windows cut by the runtime, across all channels at once."""

    name: str
    window: int
    labels: tuple[str, ...]

    def scores(self, windows: np.ndarray) -> Scores:
        """(N, window) raw float samples -> their Scores."""


class StreamBackend(Protocol):
    """Takes one channel's samples as they come and windows them itself (the FPGA's accelerator holds the
    stream); the runtime's windows, cut on the same grid, tell which replies belong to which window."""

    name: str
    window: int
    hop: int  # fixed by the hardware
    labels: tuple[str, ...]
    streams: int  # sample streams started (the first, and one after each pause or failure)
    stats: LinkStats

    def stream(self, samples: np.ndarray, stop: threading.Event) -> Scores | None:
        """The channel's next samples -> the Scores of every window they complete; None if `stop` was set first."""

    def close(self) -> None: ...


@dataclass
class OnnxBackend:
    """The run's ONNX model of one network through faultedge.edge.runner (the code a bundle runs on a
    device), exported first when it is missing or stale (faultedge.edge.predictor.load_classifier)."""

    run: RunDir
    precision: str = "fp32"
    network: str = STUDENT_NAME
    name: str = "onnx"

    def __post_init__(self) -> None:
        from faultedge.edge.artifacts import user_errors
        from faultedge.edge.predictor import load_classifier

        self._clf, report = load_classifier(self.run, self.precision, network=self.network)
        self._errors = user_errors
        self.window, self.labels = self._clf.spec.window, tuple(report["labels"])
        self.name = f"onnx {self.precision}{_tag(self.network)} ({self._clf.provider})"

    def scores(self, windows: np.ndarray) -> Scores:
        """In blocks of ORT_BLOCK windows, the last one zero-padded: one batch shape, so the classifier's
        bound buffers are made once (a new batch size each call would allocate them every time)."""
        out = np.empty((len(windows), len(self.labels)))
        with self._errors(), np.errstate(over="ignore", invalid="ignore"):
            for i in range(0, len(windows), ORT_BLOCK):
                block = windows[i : i + ORT_BLOCK]
                if len(block) < ORT_BLOCK:
                    block = np.concatenate([block, np.zeros((ORT_BLOCK - len(block), self.window))])
                out[i : i + ORT_BLOCK] = softmax(self._clf.logits(block, "the stream"))[: len(windows) - i]
        return Scores(out)


@dataclass
class GoldenBackend:
    """The run's integer IR of one network from raw samples: quantised as the ADC would give them, then the
    integer front end and network (faultedge.ir.golden.predict_samples), bit-exact to the accelerator."""

    run: RunDir
    bits: int = 8
    network: str = STUDENT_NAME
    name: str = "golden"

    def __post_init__(self) -> None:
        from faultedge.families import family
        from faultedge.ir.files import Artifacts
        from faultedge.ir.model import IRModel

        fam = family(self.network)
        path = self.run / Artifacts(fam.name, self.bits).ir
        net = f" --network {fam.name}" if fam.name != STUDENT_NAME else ""
        quantize = f"faultedge quantize {self.run.path}{net}"
        if not path.exists():
            raise RunDirError(f"{path}: no {self.bits}-bit IR of network {fam.name}; run `{quantize} --bits {self.bits}` first "
                              f"(after `faultedge train{net} --out {self.run.path}` if the run has not trained it)")
        self._ir = IRModel.load(path)
        if self._ir.frontend is None:
            raise RunDirError(f"{path}: this IR has no integer front end (raw samples in); re-run `{quantize} --bits {self.bits}`")
        self.window = self._ir.frontend.window
        self.labels = tuple(self._ir.classes)
        self.name = f"golden {self.bits}-bit{_tag(fam.name)}"

    def scores(self, windows: np.ndarray) -> Scores:
        from faultedge.ir.frontend import quantize_samples
        from faultedge.ir.golden import predict_samples

        result = predict_samples(self._ir, quantize_samples(self._ir.frontend, windows))
        return integer_scores(self._ir, result.logits, result.classes)


def make_backend(name: str, run: RunDir, precision: str = "fp32", bits: int = 8, network: str = STUDENT_NAME) -> Backend:
    if name == "onnx":
        return OnnxBackend(run, precision, network)
    if name == "golden":
        return GoldenBackend(run, bits, network)
    raise RunDirError(f"unknown back end {name!r}; choose from {', '.join(BACKENDS)}")
