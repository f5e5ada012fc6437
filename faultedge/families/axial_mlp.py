"""The axial-shift MLP family (seed 004): FaultMLP's block for 1-D spectra, trained with a dynamic teacher.

It takes the CNN student's input (the 1,024 FFT bins of faultedge.data.features) within the CNN
student's budget, and trains in one stage with the teacher-free dynamic distillation of
faultedge.train.sdd on the robust recipe's data. Its quantised form (the shift and residual-add
ops in the IR, the engine) is not built yet, so the quantisation methods say so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from faultedge.errors import FaultedgeError
from faultedge.families.base import Family, QuantData

if TYPE_CHECKING:
    from torch import nn

    from faultedge.ir import IRModel
    from faultedge.runs import RunDir
    from faultedge.train.sdd import SDDSpec

_NO_QUANT = ("the axial-shift MLP has no QAT, IR or hardware path yet (its shift and residual-add ops are not in the IR; "
             "issue 21): quantise the student instead")


class AxialMLPFamily(Family):
    name = "axmlp"
    title = "the axial-shift MLP (seed 004), dynamic distillation"
    engine = "none"  # no hardware path yet: lanes, beat and sim_inputs are never read
    lanes, beat, sim_inputs = 0, 0, 0
    steps = ("train",)

    def train_spec(self, data: str | None, seed: int) -> "SDDSpec":
        """The robust recipe on `data` (the embedded synthetic data by default), validated and tested at -6 dB, with the
        dynamic teacher."""
        from faultedge.data.dataset import SYNTHETIC, DataSpec
        from faultedge.train.pipeline import TrainConfig
        from faultedge.train.sdd import SDDSpec

        return SDDSpec(TrainConfig(data=DataSpec(source=data or SYNTHETIC, seed=seed), seed=seed))

    def train(self, run: "RunDir", spec: "SDDSpec", progress: bool = True) -> dict[str, Any]:
        from faultedge.train.sdd import train_sdd

        return train_sdd(run, spec, progress)

    def float_model(self, run: "RunDir", source: str | None = None, data: QuantData | None = None) -> "tuple[nn.Module, str]":
        from faultedge.train.sdd import load_student

        self.source_weights(source)
        return load_student(run)

    def qat_config(self, bits: int, **overrides: Any) -> Any:
        raise FaultedgeError(_NO_QUANT)

    def quant_data(self, run: "RunDir", progress: bool = True) -> QuantData:
        raise FaultedgeError(_NO_QUANT)

    def quant_net(self, model: "nn.Module", cfg: Any, data: QuantData) -> "nn.Module":
        raise FaultedgeError(_NO_QUANT)

    def export_ir(self, net: "nn.Module", data: QuantData, meta: dict[str, Any]) -> "IRModel":
        raise FaultedgeError(_NO_QUANT)

    def load_qat(self, run: "RunDir", bits: int = 8) -> "nn.Module":
        raise FaultedgeError(_NO_QUANT)


AXIAL_MLP = AxialMLPFamily()
