"""What a network family is: everything the flow needs to know about one kind of network.

A family says how its networks are built and trained, how the trained float network becomes a
Brevitas QAT network and an integer IR, and which hardware engine runs that IR. The flow steps
(faultedge.flow) and the commands ask the family; nothing else branches on a network's name.

Families import torch, Brevitas and the training code inside their methods, so the registry
itself loads quickly (for `--help` and argument choices).
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

if TYPE_CHECKING:
    import torch
    from torch import nn

    from faultedge.ir import IRModel
    from faultedge.runs import RunDir

# epoch -> (inputs, targets) of the whole training set for that epoch
EpochData = Callable[[int], "tuple[torch.Tensor, torch.Tensor]"]


def load_attr(ref: str) -> Any:
    """The object "module:name" names, imported now (families name their torch code this way)."""
    module, name = ref.split(":")
    return getattr(importlib.import_module(module), name)


@dataclass
class QuantData:
    """What quantisation-aware training of a family's network reads: its training epochs, validation
    and test inputs (what the float network takes) and what else to record."""

    epoch_data: EpochData
    val: "tuple[torch.Tensor, torch.Tensor]"
    test: "tuple[torch.Tensor, torch.Tensor]"
    class_names: tuple[str, ...]
    seed: int  # QAT's batches and calibration draw from it
    input_name: str  # what the test inputs are called in golden_vectors*.npz
    preprocessing: dict[str, Any] | None = None  # the IR's preprocessing section
    extra_vectors: dict[str, np.ndarray] = field(default_factory=dict)  # saved beside the golden vectors
    meta: dict[str, Any] = field(default_factory=dict)  # recorded in the IR's meta
    sample_lsb: float | None = None  # raw-sample networks: the value of one sample LSB (faultedge.ir.frontend)


class Family(ABC):
    name: str  # the `--network` value; also names the run's quantised files (faultedge.ir.files.Artifacts)
    title: str  # how a person calls it
    engine: str  # faultedge.hdl.engines: the engine that runs its IR
    lanes: int  # its default MAC lanes in hardware
    beat: int  # its default input values per beat
    sim_inputs: int  # random and back-pressured inputs `faultedge sim` adds by default (simulation cost differs)
    steps: tuple[str, ...]  # the flow steps that apply to it, in order
    sources: tuple[str, ...] = ()  # which trained float weights can be quantised (first: the default); () = one
    eval_batch: int = 2048  # float inference batch (per-sample kernels need smaller ones)

    @abstractmethod
    def train_spec(self, data: str | None, seed: int) -> Any:
        """What the train step does by default on a data source (None: the embedded one)."""

    @abstractmethod
    def train(self, run: "RunDir", spec: Any, progress: bool = True) -> dict[str, Any]:
        """Train into the run directory as `spec` says; returns the metrics entries written."""

    @abstractmethod
    def qat_config(self, bits: int, **overrides: Any) -> Any:
        """Quantisation-aware training settings (bits, epochs, lr, ...) with the family's defaults."""

    @abstractmethod
    def quant_data(self, run: "RunDir", progress: bool = True) -> QuantData:
        """The run's data as QAT and the golden check read it."""

    @abstractmethod
    def float_model(self, run: "RunDir", source: str | None = None, data: QuantData | None = None) -> "tuple[nn.Module, str]":
        """The trained float network (eval mode) and the file it came from; `data`, the run's QuantData
        when it is already loaded, spares reading the data again."""

    @abstractmethod
    def quant_net(self, model: "nn.Module", cfg: Any, data: QuantData) -> "nn.Module":
        """The Brevitas network of a float network, ready for QAT (calibrated where it needs it)."""

    @abstractmethod
    def export_ir(self, net: "nn.Module", data: QuantData, meta: dict[str, Any]) -> "IRModel":
        """Read a trained QAT network out into the integer IR."""

    @abstractmethod
    def load_qat(self, run: "RunDir", bits: int = 8) -> "nn.Module":
        """The run's trained QAT network, in eval mode."""

    def float_notes(self, model: "nn.Module") -> dict[str, Any]:
        """What the quantisation metrics should record about the float network it started from."""
        return {}

    def source_weights(self, source: str | None) -> str | None:
        """Check a `source` against the family's, defaulting to its first."""
        from faultedge.errors import RunDirError

        if not self.sources:
            if source is not None:
                raise RunDirError(f"{self.title} has one trained network; --train-on does not apply")
            return None
        if source is None:
            return self.sources[0]
        if source not in self.sources:
            raise RunDirError(f"{self.title}: --train-on must be one of {', '.join(self.sources)}, got {source!r}")
        return source
