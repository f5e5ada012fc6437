"""The run directory: one place every stage reads from and writes to.

Artifacts are written atomically (temporary file in the same directory, then rename), so a
crash never leaves a half-written file that a later stage would trust.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from faultedge.errors import RunDirError

if TYPE_CHECKING:  # torch is imported where weights are touched, so `predict` starts without it
    import torch

_UMASK = os.umask(0)
os.umask(_UMASK)

# Which command produces each artifact, so a stage that lacks one can say what to run first.
PRODUCERS: dict[str, str] = {
    "config.json": "faultedge train --out RUN",
    "preprocessing.json": "faultedge train --out RUN",
    "teacher.pt": "faultedge train --out RUN --stage teacher",
    "student.pt": "faultedge train --out RUN --stage student",
    "dkdl.pt": "faultedge train --out RUN --stage lora",
    "student_merged.pt": "faultedge train --out RUN --stage merge",
    "qat.pt": "faultedge quantize RUN",
    "model.ir.json": "faultedge quantize RUN",
    "golden_vectors.npz": "faultedge quantize RUN",
    "hdl/design.json": "faultedge hdl RUN",
    "hdl/faultedge_accel.v": "faultedge hdl RUN",
    "dd_config.json": "faultedge distill-data --out RUN",
    "zca.npz": "faultedge distill-data --out RUN",
    "distilled.npz": "faultedge distill-data --out RUN",
}


@contextlib.contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp creates 0600; artifacts are ordinary files
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_text(path: Path | str, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: Path | str, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_json(path: Path | str) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunDirError(f"{path}: file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RunDirError(f"{path}: not valid JSON ({exc})") from None


def save_state_dict(path: Path | str, state: "dict[str, torch.Tensor]") -> None:
    import torch

    with atomic_path(path) as tmp:
        torch.save(state, tmp)


class RunDir:
    """A run directory `runs/NAME`: config, weights, metrics and every later stage's output."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    def require(self, name: str) -> Path:
        """Return the path of an artifact, or say which stage produces it."""
        p = self.path / name
        if not p.exists():
            producer = PRODUCERS.get(name, "the stage that produces it").replace("RUN", str(self.path))
            if not self.path.is_dir():
                raise RunDirError(f"run directory {self.path} does not exist: run `{producer}` first")
            raise RunDirError(f"{self.path} has no {name}: run `{producer}` first")
        return p

    def load_state_dict(self, name: str) -> "dict[str, torch.Tensor]":
        import torch

        p = self.require(name)
        try:
            state = torch.load(p, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises many types for corrupt or foreign pickles
            raise RunDirError(f"{p}: not a loadable weights-only checkpoint ({exc.__class__.__name__}: {exc})") from None
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise RunDirError(f"{p}: expected a state dict of tensors")
        return state

    def load_model(self, name: str, model: "torch.nn.Module") -> "torch.nn.Module":
        """Load weights into `model`, with a clear error when they belong to another architecture."""
        state = self.load_state_dict(name)
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            raise RunDirError(f"{self.path / name}: weights do not fit {type(model).__name__}: {exc}") from None
        return model.eval()

    def save_model(self, name: str, model: "torch.nn.Module") -> None:
        save_state_dict(self.path / name, {k: v.detach().clone() for k, v in model.state_dict().items()})

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.json"

    def read_metrics(self) -> dict[str, Any]:
        return read_json(self.metrics_path) if self.metrics_path.exists() else {}

    def update_metrics(self, stage: str, entry: dict[str, Any]) -> None:
        """Record one stage's metrics, keeping every other stage's entry."""
        metrics = self.read_metrics()
        metrics[stage] = entry
        write_json(self.metrics_path, metrics)
