"""The engine registry: each engine is a planner (IR -> schedule, pure Python) and an Amaranth
component built from that plan. A network family names its engine; the design point records it.

The components are imported only when a design is built, so planning and the cycle model run
without Amaranth.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from faultedge.errors import IRError
from faultedge.hdl.frontend.plan import FrontEndPlan
from faultedge.hdl.image_plan import plan_image
from faultedge.hdl.plan import plan_1d
from faultedge.hdl.stream_plan import StreamPlan
from faultedge.ir import IRModel
from faultedge.ir.files import TOPLEVEL

if TYPE_CHECKING:
    from amaranth.lib import wiring


@dataclass(frozen=True)
class Engine:
    name: str
    description: str
    planner: Callable[[IRModel, int, int], StreamPlan]
    component: str  # "module:Class", built from the plan
    sample_component: str | None = None  # "module:Class" of the sample-in accelerator (front end + engine), if the engine has one

    def build(self, p: StreamPlan) -> "wiring.Component":
        return _load(self.component)(p)

    def require_sample_in(self) -> None:
        if self.sample_component is None:
            raise IRError(f"the {self.name} engine takes features only: a front end (raw samples in) exists for "
                          f"{', '.join(e.name for e in ENGINES.values() if e.sample_component)}")

    def build_sample_in(self, p: StreamPlan, fp: FrontEndPlan) -> "wiring.Component":
        self.require_sample_in()
        return _load(self.sample_component)(p, fp)


def _load(ref: str) -> Any:
    module, cls = ref.split(":")
    return getattr(importlib.import_module(module), cls)


ENGINES: dict[str, Engine] = {
    e.name: e
    for e in (
        Engine("mac1d", "one P-lane MAC engine reused by every conv1d/linear stage (max-pool folded into the write-back)",
               plan_1d, "faultedge.hdl.accel:Accelerator", "faultedge.hdl.accel:SampleAccelerator"),
        Engine("image", "P MAC lanes for kernel assembly, convolution and head, with an attention unit and divider (kwconv2d networks)",
               plan_image, "faultedge.hdl.image_accel:ImageAccelerator"),
    )
}
DEFAULT_ENGINE = "mac1d"


def engine(name: str) -> Engine:
    try:
        return ENGINES[name]
    except KeyError:
        raise IRError(f"unknown hardware engine {name!r}; known: {', '.join(ENGINES)}") from None


def plan(ir: IRModel, lanes: int, beat: int = 1, engine_name: str = DEFAULT_ENGINE) -> StreamPlan:
    """Check that the IR and the options fit the engine, and lay out its schedule and memories."""
    return engine(engine_name).planner(ir, lanes, beat)


def build_accelerator(ir: IRModel, lanes: int, beat: int = 1, engine_name: str = DEFAULT_ENGINE) -> "wiring.Component":
    """The engine's Amaranth component for `ir` with `lanes` MAC lanes and `beat` input values per beat."""
    e = engine(engine_name)
    return e.build(e.planner(ir, lanes, beat))


def verilog_of(component: "wiring.Component", name: str = TOPLEVEL) -> str:
    """Verilog of a component, without source locations, so it depends on nothing but the design."""
    from amaranth.back import verilog

    return verilog.convert(component, name=name, emit_src=False)


def generate_verilog(ir: IRModel, lanes: int, beat: int = 1, engine_name: str = DEFAULT_ENGINE, name: str = TOPLEVEL) -> str:
    """Verilog of the accelerator: the same IR and options give the same bytes."""
    return verilog_of(build_accelerator(ir, lanes, beat, engine_name), name)
