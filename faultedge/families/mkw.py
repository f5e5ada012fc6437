"""The MKW-Net family (seed 000): KernelWarehouse convolutions on wavelet images.

Training is dataset distillation followed by MKW-Net on the distilled set and on a random real
subset of the same size (faultedge.train.dd_pipeline); quantisation is faultedge.quant.mkw_qat
(Brevitas, plus the attention's exact division and the per-image kernels); the image engine
runs its IR.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from faultedge.families.base import Family, QuantData
from faultedge.models.image_nets import MKW

if TYPE_CHECKING:
    from torch import nn

    from faultedge.data.images import ImageSets
    from faultedge.ir import IRModel
    from faultedge.runs import RunDir
    from faultedge.train.dd_pipeline import DDConfig


@dataclass(frozen=True)
class TrainSpec:
    """Distil the run's images (`dd`), then train MKW-Net on each of `train_on` (distilled, random, real)."""

    dd: "DDConfig"
    train_on: tuple[str, ...] = ("distilled", "random")
    epochs: int | None = None  # None: each set's schedule (faultedge.train.dd_pipeline)


def image_quant_data(sets: "ImageSets", seed: int = 0, meta: dict[str, Any] | None = None) -> QuantData:
    """QAT reads the real training images every epoch, selects on the real validation images and is checked on the test images."""
    from faultedge.train.loop import as_tensors

    train = as_tensors(*sets.train)
    return QuantData(lambda epoch: train, as_tensors(*sets.val), as_tensors(*sets.test), sets.class_names, seed, "images", meta=meta or {})


class MKWFamily(Family):
    name = MKW  # the family is named after its network
    title = "MKW-Net"
    engine = "image"
    lanes, beat = 8, 8  # the lanes must divide every block's cell rows (8)
    sim_inputs = 2  # about 400 k cycles an image in Verilator
    steps = ("train", "quantize", "hdl", "sim", "fpga")
    sources = ("real", "distilled", "random")
    eval_batch = 512

    def train_spec(self, data: str | None, seed: int) -> TrainSpec:
        """`faultedge distill-data`'s defaults: CWRU at -6 dB with the time shift as its only augmentation, robot
        currents noise-free with all four."""
        from faultedge.data.images import ROBOT, ImageDataSpec, default_augment
        from faultedge.train.dataset_distill import DistillConfig
        from faultedge.train.dd_pipeline import DDConfig

        source = data or ROBOT
        spec = ImageDataSpec.for_source(source, seed=seed, snr_db=None if source == ROBOT else -6.0)
        return TrainSpec(DDConfig(data=spec, distill=DistillConfig(augment=default_augment(source)), seed=seed))

    def train(self, run: "RunDir", spec: TrainSpec, progress: bool = True) -> dict[str, Any]:
        from faultedge.train.dd_pipeline import distill_run, train_runs

        distilled = distill_run(run, spec.dd, progress)
        entries = train_runs(run, [(MKW, t) for t in spec.train_on], spec.dd.seed, progress, spec.epochs)
        return {"distill": distilled, **{f"{e['model']}_{e['train_on']}": e for e in entries}}

    def qat_config(self, bits: int, **overrides: Any) -> Any:
        from faultedge.quant.mkw_qat import MKWQATConfig

        return MKWQATConfig(bits=bits, **overrides)

    def quant_data(self, run: "RunDir", progress: bool = True) -> QuantData:
        from faultedge.train.dd_pipeline import load_run_images

        dd_cfg, sets = load_run_images(run, progress)
        return image_quant_data(sets, dd_cfg.seed, {"image_data": dd_cfg.data.to_dict()})

    def float_model(self, run: "RunDir", source: str | None = None, data: QuantData | None = None) -> "tuple[nn.Module, str]":
        from faultedge.errors import RunDirError
        from faultedge.models.image_nets import build_image_net
        from faultedge.train.dd_pipeline import DD_CONFIG

        chosen = self.source_weights(source)
        name = f"{MKW}_{chosen}.pt"
        if not (run / name).exists():
            run.require(DD_CONFIG)
            raise RunDirError(f"{run.path} has no {name}: run `faultedge train-mkw {run.path} --model {MKW} --train-on {chosen}` first")
        if data is None:
            data = self.quant_data(run, progress=False)
        shape = tuple(data.test[0].shape[1:])
        return run.load_model(name, build_image_net(MKW, shape, len(data.class_names))), name

    def float_notes(self, model: "nn.Module") -> dict[str, Any]:
        """QAT runs at temperature 0 (fully dynamic); a float MKW-Net saved earlier in the schedule is fine-tuned into it."""
        return {"float_temperature": float(model.convs[0].attention.temperature)}

    def quant_net(self, model: "nn.Module", cfg: Any, data: QuantData) -> "nn.Module":
        """The Brevitas MKW-Net, its activation scales calibrated on (up to `cfg.calibration_images`) training images."""
        import torch

        from faultedge.quant.mkw_qat import build_quant_mkw

        net = build_quant_mkw(model, cfg)
        x_train, y_train = data.epoch_data(0)
        pick = torch.randperm(len(y_train), generator=torch.Generator().manual_seed(data.seed))[: cfg.calibration_images]
        net.calibrate(x_train[pick])
        return net

    def export_ir(self, net: "nn.Module", data: QuantData, meta: dict[str, Any]) -> "IRModel":
        from faultedge.quant.mkw_export import export_mkw_ir

        return export_mkw_ir(net, self.name, data.class_names, None, meta)

    def load_qat(self, run: "RunDir", bits: int = 8) -> "nn.Module":
        from faultedge.ir import IRModel
        from faultedge.ir.files import Artifacts
        from faultedge.models.image_nets import build_image_net
        from faultedge.quant.mkw_qat import MKWQATConfig, QuantMKWNet

        art = Artifacts(self.name, bits)
        ir = IRModel.load(run.require(art.ir))
        return run.load_model(art.qat, QuantMKWNet(build_image_net(MKW, ir.input.shape, len(ir.classes)), MKWQATConfig(bits=bits)))


MKW_NET = MKWFamily()
