"""Names and freshness of a run's ONNX models: what predict, deploy and bench need without
importing torch or Brevitas (faultedge.edge.exported exports them only when needed).

Every family with the flow's export step exports into runs/NAME/onnx/; its files carry the
family's suffix as its quantised files do (faultedge.ir.files.Artifacts: none for the student,
"_axmlp" for the axial-shift MLP), so the families of one run keep apart models and reports.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from faultedge.data.features import Preprocessing
from faultedge.edge import runner
from faultedge.errors import DataError, RunDirError
from faultedge.families import STUDENT_NAME
from faultedge.ir.files import Artifacts
from faultedge.runs import RunDir, read_json

ONNX_DIR = "onnx"
PRECISIONS = ("fp32", "int8")


def suffix(network: str) -> str:
    """What names a family's exported files: its 8-bit quantised files' suffix, which names the network alone."""
    return Artifacts(network, 8).suffix


def report_name(network: str) -> str:
    """The export report of one family's models, in runs/NAME/onnx/."""
    return f"export{suffix(network)}.json"


@dataclass(frozen=True)
class OnnxModel:
    """File name of one exported model in runs/NAME/onnx/."""

    precision: str  # fp32 | int8
    front: str  # features | magnitude | window (the model's input name)
    network: str = STUDENT_NAME  # the family (faultedge.families)

    @property
    def name(self) -> str:
        base = "model_fp32" if self.precision == "fp32" else "model_int8_qdq"
        return f"{base}{suffix(self.network)}" + ("" if self.front == "features" else f"_{self.front}") + ".onnx"

    @property
    def key(self) -> str:
        """The model's key in its report and a bundle's manifest (one network each)."""
        return f"{self.precision}_{self.front}"


ALL_MODELS = tuple(OnnxModel(p, f) for p in PRECISIONS for f in runner.FRONTS[::-1])


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """The runner's errors are the user's to fix: give them faultedge's type, so the CLI prints them plainly."""
    try:
        yield
    except runner.RunnerError as exc:
        raise DataError(str(exc)) from None


def load_spec(run: RunDir) -> tuple[Preprocessing, runner.Spec]:
    """The run's preprocessing spec, validated by faultedge and by the runner (which must implement it)."""
    prep = Preprocessing.from_dict(read_json(run.require("preprocessing.json")), str(run / "preprocessing.json"))
    with user_errors():
        return prep, runner.Spec(prep.to_dict(), str(run / "preprocessing.json"))


def sources(run: RunDir, network: str, float_weights: str) -> dict[str, str]:
    """sha256 of the artifacts a family's ONNX models are made from, to tell when they are stale.

    `float_weights` is the file the family's float network came from: only the family knows it (and
    only by loading the network), so the report records it for the next freshness check."""
    names = ["preprocessing.json", float_weights, Artifacts(network, 8).qat]
    return {n: runner.sha256_file(run / n) for n in names if (run / n).exists()}


def fresh_report(run: RunDir, network: str) -> dict[str, Any] | None:
    """The family's export report if every model it names exists and none is older than its sources, else None."""
    path = run / ONNX_DIR / report_name(network)
    if path.exists():
        report = read_json(path)
        weights = report.get("float_weights")
        if (isinstance(weights, str) and report.get("sources") == sources(run, network, weights)
                and all((run / ONNX_DIR / n).exists() for n in report.get("models", {}).values())):
            return report
    return None


def model_path(run: RunDir, report: dict[str, Any], precision: str, front: str) -> Path:
    key = OnnxModel(precision, front).key
    if key not in report["models"]:
        raise RunDirError(f"{run.path} has no {precision} ONNX model: run `faultedge quantize {run.path} --network {report['network']}` first")
    return run / ONNX_DIR / report["models"][key]
