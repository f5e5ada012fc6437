"""The axial-shift MLP family (seed 004): FaultMLP's block for 1-D spectra, trained with a dynamic teacher.

It takes the CNN student's input (the 1,024 FFT bins of faultedge.data.features) within the CNN
student's budget, and trains in one stage with the teacher-free dynamic distillation of
faultedge.train.sdd on the robust recipe's data. Quantisation is faultedge.quant.axmlp_qat
(Brevitas, the BatchNorms folded, the IR's `shift` and `add` ops); it reads the same data, and
its IR carries the same integer front end, as the CNN student's. The 1-D MAC engine runs it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from faultedge.families.base import Family, QuantData

if TYPE_CHECKING:
    from torch import nn

    from faultedge.ir import IRModel
    from faultedge.runs import RunDir
    from faultedge.train.sdd import SDDSpec

CALIBRATION_WINDOWS = 512  # training windows that initialise the activation scales before QAT


class AxialMLPFamily(Family):
    name = "axmlp"
    title = "the axial-shift MLP (seed 004), dynamic distillation"
    engine = "mac1d"  # the shift is a write offset, the residual add a second operand into the requantiser (faultedge.hdl.plan)
    lanes, beat = 16, 1  # the CNN student's, so the two compare at the same lanes
    sim_inputs = 32
    steps = ("train", "quantize", "export", "hdl", "sim", "fpga", "bundle")

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
        from faultedge.errors import RunDirError
        from faultedge.models.axial_mlp import AxialMLP
        from faultedge.train.sdd import CONFIG, load_student

        self.source_weights(source)
        if not (run / CONFIG).exists():
            raise RunDirError(f"{run.path} has no trained axial-shift MLP: run `faultedge train --network axmlp --out {run.path}` first")
        model, weights = load_student(run)
        if not isinstance(model, AxialMLP):
            raise RunDirError(f"{run.path} trained the CNN student with the dynamic teacher ({weights}), not the axial-shift MLP: "
                              "use `faultedge train --network axmlp`")
        return model, weights

    def qat_config(self, bits: int, **overrides: Any) -> Any:
        from faultedge.quant.qat import QATConfig

        return QATConfig(bits=bits, **overrides)

    def quant_data(self, run: "RunDir", progress: bool = True) -> QuantData:
        """The CNN student's: the run's robust-recipe epochs, the -6 dB validation and test features, the test windows."""
        from faultedge.families.cnn1d import STUDENT

        return STUDENT.quant_data(run, progress)

    def quant_net(self, model: "nn.Module", cfg: Any, data: QuantData) -> "nn.Module":
        """The Brevitas MLP (BatchNorms folded), its activation scales calibrated on training windows of the first epoch."""
        import torch

        from faultedge.quant.axmlp_qat import QuantAxialMLP

        net = QuantAxialMLP(model, cfg.bits)
        x_train, _ = data.epoch_data(0)
        pick = torch.randperm(len(x_train), generator=torch.Generator().manual_seed(data.seed))[:CALIBRATION_WINDOWS]
        net.calibrate(x_train[pick])
        return net

    def export_ir(self, net: "nn.Module", data: QuantData, meta: dict[str, Any]) -> "IRModel":
        from faultedge.families.cnn1d import with_frontend
        from faultedge.quant.axmlp_export import export_axmlp_ir

        return with_frontend(export_axmlp_ir(net, self.name, data.class_names, data.preprocessing, meta), data)

    def load_qat(self, run: "RunDir", bits: int = 8) -> "nn.Module":
        from faultedge.ir.files import Artifacts
        from faultedge.quant.axmlp_qat import QuantAxialMLP

        model, _ = self.float_model(run)
        return run.load_model(Artifacts(self.name, bits).qat, QuantAxialMLP(model, bits))


AXIAL_MLP = AxialMLPFamily()
