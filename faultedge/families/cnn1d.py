"""The 1-D CNN families on FFT features: the 2,830-parameter student and the 69,626-parameter teacher.

Both come out of one training pipeline (teacher -> DKD student -> LoRA -> merged student,
faultedge.train.pipeline), are quantised by faultedge.quant.qat (the teacher with its BatchNorms
folded) and run on the 1-D MAC engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from faultedge.families.base import Family, QuantData, load_attr
from faultedge.ir import frontend

if TYPE_CHECKING:
    from torch import nn

    from faultedge.ir import IRModel
    from faultedge.runs import RunDir
    from faultedge.train.pipeline import TrainConfig

ALL_STAGES = ("teacher", "student", "lora", "merge")


@dataclass(frozen=True)
class TrainSpec:
    """The train step of the 1-D pipeline: a configuration for a new run (None: continue the run's
    own config.json), which of its stages to run, and torch's threads. One thread is the default:
    the second core prepares the next epoch (faultedge.train.epochs), and two torch threads on a
    core that something else also uses wait for each other (a batch-64 teacher forward measured
    100x slower with 2 threads than with 1 beside another job)."""

    config: "TrainConfig | None" = None
    stages: tuple[str, ...] = ALL_STAGES
    threads: int = 1


def with_frontend(ir: "IRModel", data: QuantData) -> "IRModel":
    """An FFT-feature network's IR with its front end: the preprocessing in integers, from raw samples of the training data's range."""
    from dataclasses import replace

    from faultedge.data.features import Preprocessing

    prep = Preprocessing.from_dict(data.preprocessing)
    fe = frontend.fit(prep.mean, prep.std, ir.input.scale_exp, ir.input.clamp, frontend.DEFAULT_SAMPLE_BITS, data.sample_lsb,
                      prep.window, prep.window // 2, frontend.default_shifts(prep.window, frontend.DEFAULT_SAMPLE_BITS), frontend.DEFAULT_TWIDDLE_BITS,
                      prep.features)
    return replace(ir, frontend=fe)


class Cnn1dFamily(Family):
    engine = "mac1d"
    lanes, beat = 16, 1
    sim_inputs = 32

    def __init__(self, name: str, title: str, weights: str, architecture: str, qat_plan: str, stages: tuple[str, ...],
                 steps: tuple[str, ...], width: str | None = None) -> None:
        """`architecture` and `qat_plan` are "module:name" of the float network's class and of the function that
        describes it as MAC steps for QAT (faultedge.quant.qat), imported when needed; `width` is the TrainConfig
        field that sets the network's `channels` (None: a fixed network)."""
        self.name, self.title, self.weights, self.stages, self.steps = name, title, weights, stages, steps
        self.architecture, self.qat_plan, self.width = architecture, qat_plan, width

    def _architecture(self, run: "RunDir") -> "nn.Module":
        """The untrained network of the run's configuration."""
        from faultedge.runs import read_json
        from faultedge.train.pipeline import TrainConfig

        kwargs = {}
        if self.width is not None:
            kwargs["channels"] = getattr(TrainConfig.from_dict(read_json(run.require("config.json"))), self.width)
        return load_attr(self.architecture)(**kwargs)

    def _quant_net(self, model: "nn.Module", bits: int) -> "nn.Module":
        from faultedge.quant.qat import QuantNet

        return QuantNet(load_attr(self.qat_plan)(model), bits, (1, model.n_features))

    def train_spec(self, data: str | None, seed: int) -> TrainSpec:
        """`faultedge train`'s defaults: the robust recipe, validated and tested at -6 dB."""
        from faultedge.data.dataset import SYNTHETIC, DataSpec
        from faultedge.train.pipeline import TrainConfig

        return TrainSpec(TrainConfig(data=DataSpec(source=data or SYNTHETIC, seed=seed), seed=seed), self.stages)

    def train(self, run: "RunDir", spec: TrainSpec, progress: bool = True) -> dict[str, Any]:
        import torch

        from faultedge.train.pipeline import run_stages

        torch.set_num_threads(spec.threads)
        return run_stages(run, spec.config, spec.stages, progress)

    def qat_config(self, bits: int, **overrides: Any) -> Any:
        from faultedge.quant.qat import QATConfig

        return QATConfig(bits=bits, **overrides)

    def quant_data(self, run: "RunDir", progress: bool = True) -> QuantData:
        from faultedge.data.classes import CLASS_NAMES
        from faultedge.runs import read_json
        from faultedge.train.pipeline import Session, TrainConfig

        cfg = TrainConfig.from_dict(read_json(run.require("config.json")))
        session = Session(run, cfg, progress)
        windows, _ = session.dataset.noisy("test")
        lsb = frontend.full_scale_lsb(float(np.abs(session.train_windows(0)).max()), frontend.DEFAULT_SAMPLE_BITS)
        return QuantData(session.epochs, session.val, session.test, CLASS_NAMES, cfg.seed, "features",
                         session.prep.to_dict(), {"windows": windows.astype("float32")}, sample_lsb=lsb)

    def float_model(self, run: "RunDir", source: str | None = None, data: QuantData | None = None) -> "tuple[nn.Module, str]":
        self.source_weights(source)
        return run.load_model(self.weights, self._architecture(run)), self.weights

    def quant_net(self, model: "nn.Module", cfg: Any, data: QuantData) -> "nn.Module":
        return self._quant_net(model, cfg.bits)

    def export_ir(self, net: "nn.Module", data: QuantData, meta: dict[str, Any]) -> "IRModel":
        from faultedge.quant.export import export_ir

        return with_frontend(export_ir(net, data.test[0][:8], self.name, data.class_names, data.preprocessing, meta), data)

    def load_qat(self, run: "RunDir", bits: int = 8) -> "nn.Module":
        from faultedge.ir.files import Artifacts

        return run.load_model(Artifacts(self.name, bits).qat, self._quant_net(self._architecture(run), bits))


STUDENT = Cnn1dFamily("student", "the 2,830-parameter student (merged after LoRA)", "student_merged.pt", "faultedge.models.student:Student",
                      "faultedge.quant.qat:student_plan", ALL_STAGES, ("train", "quantize", "export", "hdl", "sim", "fpga", "bundle", "bench"),
                      width="student_channels")
TEACHER = Cnn1dFamily("teacher", "the 69,626-parameter teacher (BatchNorm folded)", "teacher.pt", "faultedge.models.teacher:Teacher",
                      "faultedge.quant.qat:teacher_plan", ("teacher",), ("train", "quantize", "hdl", "sim", "fpga"))
