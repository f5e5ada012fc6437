"""The demo: each family's flow with settings small enough for a few minutes on 2 cores.

Student: synthetic bearing data -> teacher, DKD student, LoRA, merge (short schedules) -> 8-bit
QAT (3 epochs) -> ONNX -> Verilog (8 lanes, beat 8) -> Verilator (64 test windows, 16 random,
16 back-pressured) -> ECP5 bitstream -> bundle -> latency table.
MKW-Net: synthetic robot currents -> wavelet images -> 10 distilled images per class -> MKW-Net on
them and on a random real subset -> 8-bit QAT -> image-engine Verilog -> Verilator on 2 test images.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from faultedge.errors import FaultedgeError
from faultedge.families import MKW_NAME, STUDENT_NAME

if TYPE_CHECKING:
    from faultedge.flow.config import FlowConfig


def _student(seed: int) -> "tuple[FlowConfig, tuple[str, ...]]":
    from faultedge.data.dataset import SYNTHETIC, DataSpec
    from faultedge.edge.bench import BenchConfig
    from faultedge.families.cnn1d import TrainSpec
    from faultedge.flow.config import FlowConfig, SimOptions
    from faultedge.fpga.build import BuildOptions
    from faultedge.train.pipeline import TrainConfig

    train = TrainConfig(data=DataSpec(source=SYNTHETIC, seed=seed), seed=seed)
    train = replace(train, teacher=replace(train.teacher, epochs=15, patience=5), student=replace(train.student, epochs=25, patience=8),
                    lora=replace(train.lora, epochs=10, patience=5))
    cfg = FlowConfig(network=STUDENT_NAME, seed=seed, train=TrainSpec(train), qat={"epochs": 3}, lanes=8, beat=8,
                     sim=SimOptions(limit=64, random=16, backpressure=16),
                     fpga=BuildOptions(target_mhz=75.0),  # the PLL follows the achieved Fmax if it is lower
                     bench=BenchConfig(repeats=1000, rounds=2, batch_repeats=10), bench_compact=True)
    return cfg, ("train", "quantize", "export", "hdl", "sim", "fpga", "bundle", "bench")


def _mkw(seed: int) -> "tuple[FlowConfig, tuple[str, ...]]":
    from faultedge.data.images import ROBOT, ImageDataSpec
    from faultedge.families.mkw import TrainSpec
    from faultedge.flow.config import FlowConfig, SimOptions
    from faultedge.train.dataset_distill import DistillConfig
    from faultedge.train.dd_pipeline import DDConfig

    data = ImageDataSpec.for_source(ROBOT, seed=seed, n_train=100, n_val=30, n_test=100)
    distill = DistillConfig(images_per_class=10, n_experts=2, expert_train_epochs=8, min_start_epoch=2, max_start_epoch=5, iterations=60)
    cfg = FlowConfig(network=MKW_NAME, seed=seed, train=TrainSpec(DDConfig(data=data, distill=distill, seed=seed), epochs=60),
                     qat={"epochs": 2}, source="distilled", sim=SimOptions(limit=2, random=1, backpressure=1))
    return cfg, ("train", "quantize", "hdl", "sim")  # the image engine's FPGA build takes longer than the rest together


DEMOS = {STUDENT_NAME: _student, MKW_NAME: _mkw}


def demo(network: str, seed: int = 0) -> "tuple[FlowConfig, tuple[str, ...]]":
    """The demo's configuration and steps for a family."""
    if network not in DEMOS:
        raise FaultedgeError(f"there is a demo for {', '.join(DEMOS)}, not for {network!r}")
    return DEMOS[network](seed)
