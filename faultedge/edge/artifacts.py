"""Names and freshness of a run's ONNX models: what predict, deploy and bench need without
importing torch or Brevitas (faultedge.edge.exported exports them only when needed)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from faultedge.data.features import Preprocessing
from faultedge.edge import runner
from faultedge.errors import DataError, RunDirError
from faultedge.families import STUDENT
from faultedge.ir.files import Artifacts
from faultedge.runs import RunDir, read_json

ONNX_DIR = "onnx"
REPORT = "export.json"
PRECISIONS = ("fp32", "int8")
EXPORTED = STUDENT  # the family whose networks are exported
QAT_WEIGHTS = Artifacts(EXPORTED.name, 8).qat


@dataclass(frozen=True)
class OnnxModel:
    """File name of one exported model in runs/NAME/onnx/."""

    precision: str  # fp32 | int8
    front: str  # features | magnitude | window (the model's input name)

    @property
    def name(self) -> str:
        base = "model_fp32" if self.precision == "fp32" else "model_int8_qdq"
        return f"{base}.onnx" if self.front == "features" else f"{base}_{self.front}.onnx"

    @property
    def key(self) -> str:
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


def sources(run: RunDir) -> dict[str, str]:
    """sha256 of the artifacts the ONNX models are made from, to tell when they are stale."""
    names = ["preprocessing.json", EXPORTED.weights, QAT_WEIGHTS]
    return {n: runner.sha256_file(run / n) for n in names if (run / n).exists()}


def fresh_report(run: RunDir) -> dict[str, Any] | None:
    """The run's export report if every model it names exists and none is older than its sources, else None."""
    path = run / ONNX_DIR / REPORT
    if path.exists():
        report = read_json(path)
        if report.get("sources") == sources(run) and all((run / ONNX_DIR / n).exists() for n in report.get("models", {}).values()):
            return report
    return None


def model_path(run: RunDir, report: dict[str, Any], precision: str, front: str) -> Path:
    key = OnnxModel(precision, front).key
    if key not in report["models"]:
        raise RunDirError(f"{run.path} has no {precision} ONNX model: run `faultedge quantize {run.path}` first")
    return run / ONNX_DIR / report["models"][key]
