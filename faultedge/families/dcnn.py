"""Seed 003's DCNN: the float-only network of the class-imbalance study (docs/results/imbalance.md).

It trains on raw 1,024-sample windows under the imbalance protocol (faultedge.data.imbalance) with
one of the class losses (faultedge.train.losses.CLASS_LOSSES). It has no quantised form: its 49-tap
convolution on raw samples and 89,700-weight dense layer fit none of the engines, and the study is
about the loss, not the hardware; the quantisation methods say so instead of guessing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from faultedge.errors import FaultedgeError
from faultedge.families.base import Family, QuantData

if TYPE_CHECKING:
    from torch import nn

    from faultedge.ir import IRModel
    from faultedge.data.imbalance import ImbalanceSpec
    from faultedge.models.dcnn import ImbalanceFit
    from faultedge.runs import RunDir

WEIGHTS, CONFIG = "dcnn.pt", "dcnn_config.json"
_FLOAT_ONLY = ("the DCNN (seed 003) is a float-only study network for the class-imbalance losses; it has no QAT, IR "
               "or hardware path (quantise the student, teacher or mkw instead)")


def _default_protocol() -> "ImbalanceSpec":
    from faultedge.data.imbalance import ImbalanceSpec  # imported late: the registry loads without numpy's data stack

    return ImbalanceSpec()


def _default_fit() -> "ImbalanceFit":
    from faultedge.models.dcnn import ImbalanceFit

    return ImbalanceFit()


@dataclass(frozen=True)
class TrainSpec:
    """One imbalanced training run: the data (a CWRU directory with the 0 hp files, or None for the
    embedded synthetic records), the protocol (set, noise, seed), the class loss and the recipe."""

    data: str | None = None
    protocol: "ImbalanceSpec" = field(default_factory=_default_protocol)
    loss: str = "ghl"
    fit: "ImbalanceFit" = field(default_factory=_default_fit)
    threads: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {"data": self.data, "protocol": self.protocol.to_dict(), "loss": self.loss, "fit": self.fit.to_dict(),
                "threads": self.threads}


class DCNNFamily(Family):
    name = "dcnn"
    title = "the DCNN of seed 003 (float-only, class-imbalance study)"
    engine = "none"  # no hardware path: lanes, beat and sim_inputs are never read
    lanes, beat, sim_inputs = 0, 0, 0
    steps = ("train",)

    def train_spec(self, data: str | None, seed: int) -> TrainSpec:
        """Set 1 with GHL, noise-free: the study's headline configuration."""
        from faultedge.data.imbalance import ImbalanceSpec

        return TrainSpec(data=data, protocol=ImbalanceSpec(seed=seed))

    def train(self, run: "RunDir", spec: TrainSpec, progress: bool = True) -> dict[str, Any]:
        import torch

        from faultedge.data.classes import CLASS_NAMES
        from faultedge.data.cwru import load_recordings
        from faultedge.data.imbalance import make_imbalanced
        from faultedge.data.synthetic import synthesize_recordings
        from faultedge.metrics import classification_report
        from faultedge.models.dcnn import predict, train_dcnn
        from faultedge.runs import write_json

        torch.set_num_threads(spec.threads)
        seed = spec.protocol.seed
        recordings = synthesize_recordings(0, seed) if spec.data is None else load_recordings(spec.data, (0,))
        data = make_imbalanced(recordings, spec.protocol)
        model, info = train_dcnn(data.train.x, data.train.y, spec.loss, len(CLASS_NAMES), spec.fit, seed, progress)
        run.path.mkdir(parents=True, exist_ok=True)
        run.save_model(WEIGHTS, model)
        write_json(run / CONFIG, {**spec.to_dict(), "window": model.n_samples, "input_scale": data.scale})
        entry = {"params": sum(p.numel() for p in model.parameters()), "loss": spec.loss, "set": spec.protocol.set_name,
                 "train_counts": data.counts.tolist(), "epochs_run": info["epochs_run"], "train_seconds": info["train_seconds"],
                 "test": classification_report(data.test.y, predict(model, data.test.x), len(CLASS_NAMES))}
        run.update_metrics("dcnn", entry)
        return {"dcnn": entry}

    def float_model(self, run: "RunDir", source: str | None = None, data: QuantData | None = None) -> "tuple[nn.Module, str]":
        from faultedge.models.dcnn import DCNN
        from faultedge.runs import read_json

        self.source_weights(source)
        window = int(read_json(run.require(CONFIG))["window"])
        return run.load_model(WEIGHTS, DCNN(window)), WEIGHTS

    def qat_config(self, bits: int, **overrides: Any) -> Any:
        raise FaultedgeError(_FLOAT_ONLY)

    def quant_data(self, run: "RunDir", progress: bool = True) -> QuantData:
        raise FaultedgeError(_FLOAT_ONLY)

    def quant_net(self, model: "nn.Module", cfg: Any, data: QuantData) -> "nn.Module":
        raise FaultedgeError(_FLOAT_ONLY)

    def export_ir(self, net: "nn.Module", data: QuantData, meta: dict[str, Any]) -> "IRModel":
        raise FaultedgeError(_FLOAT_ONLY)

    def load_qat(self, run: "RunDir", bits: int = 8) -> "nn.Module":
        raise FaultedgeError(_FLOAT_ONLY)


DCNN_FAMILY = DCNNFamily()
