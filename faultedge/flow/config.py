"""The flow's configuration: one object every step reads (as FINN's build steps read one build config).

Each field has the default of the command that runs that step alone, so `faultedge run` and the
single commands agree; presets (faultedge.flow.presets) change a few fields for the demo.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faultedge.edge.bench import BenchConfig
from faultedge.families import Family, family
from faultedge.fpga.build import BuildOptions
from faultedge.hdl.design import DEFAULT_BOARD, DesignPoint
from faultedge.hdl.frontend.plan import NO_FRONTEND
from faultedge.sim import DEFAULT_WINDOWS


@dataclass(frozen=True)
class SimOptions:
    limit: int | None = None  # golden vectors simulated (None: all)
    random: int | None = None  # random inputs (None: the family's default)
    backpressure: int | None = None  # inputs streamed under back-pressure (None: the family's default)
    clock_mhz: float = 100.0  # for the latency figures
    seed: int = 0
    windows: int = DEFAULT_WINDOWS  # sample-in designs: windows of the raw sample stream (recordings, extremes, back-pressure)


@dataclass(frozen=True)
class BundleOptions:
    board: str = "x86-cpu"  # faultedge/boards/edge/
    out: Path | None = None  # None: RUN/bundle/BOARD
    replace: bool = False


@dataclass(frozen=True)
class FlowConfig:
    network: str = "student"  # the family (faultedge.families)
    data: str | None = None  # data source of a new run (None: the family's embedded one)
    seed: int = 0
    train: Any = None  # the family's train spec (None: its default on `data`)
    bits: int = 8
    qat: dict[str, Any] = field(default_factory=dict)  # QAT overrides (epochs, lr, ...) of the family's defaults
    source: str | None = None  # which trained network to quantise, where a family has several
    lanes: int | None = None  # None: the family's default
    beat: int | None = None
    board: str = DEFAULT_BOARD
    frontend: str = NO_FRONTEND  # "pipelined" / "iterative": the sample-in accelerator (faultedge.hdl.frontend)
    sim: SimOptions = field(default_factory=SimOptions)
    fpga: BuildOptions = field(default_factory=BuildOptions)
    fpga_board: str | None = None  # None: the board of the design point hdl/ was generated for
    bundle: BundleOptions = field(default_factory=BundleOptions)
    bench: BenchConfig = field(default_factory=BenchConfig)
    bench_compact: bool = False  # the bench summary shows the model-only, one-thread rows (the demo's short table)
    progress: bool = True

    @property
    def family(self) -> Family:
        return family(self.network)

    def train_spec(self) -> Any:
        return self.train if self.train is not None else self.family.train_spec(self.data, self.seed)

    def qat_config(self) -> Any:
        return self.family.qat_config(self.bits, **self.qat)

    def design(self) -> DesignPoint:
        f = self.family
        beat = self.beat or (1 if self.frontend != NO_FRONTEND else f.beat)  # samples come one per transfer
        return DesignPoint(f.name, self.bits, f.engine, self.lanes or f.lanes, beat, self.board, self.frontend)
