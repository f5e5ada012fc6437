"""The accelerator generator: integer IR -> Amaranth component -> deterministic Verilog.

    build_accelerator(ir, lanes, beat)   the Amaranth component (ports: see Accelerator; image networks: ImageAccelerator)
    generate_verilog(ir, lanes, beat)    its Verilog text; the same IR and options give the same bytes
    faultedge.hdl.cycles                 the analytic cycle model
"""

from __future__ import annotations

from faultedge.hdl.accel import Accelerator
from faultedge.hdl.image_accel import ImageAccelerator
from faultedge.hdl.plan import Plan, plan
from faultedge.ir import IRModel

__all__ = ["Accelerator", "ImageAccelerator", "Plan", "build_accelerator", "generate_verilog", "plan"]


def build_accelerator(ir: IRModel, lanes: int, beat: int = 1) -> Accelerator | ImageAccelerator:
    """The accelerator for `ir` with `lanes` parallel MAC lanes and `beat` input values per beat:
    the 1-D engine, or the image engine for networks with kwconv2d layers."""
    p = plan(ir, lanes, beat)
    return Accelerator(p) if isinstance(p, Plan) else ImageAccelerator(p)


def generate_verilog(ir: IRModel, lanes: int, beat: int = 1, name: str = "faultedge_accel") -> str:
    """Verilog of the accelerator, without source locations, so it depends on nothing but the inputs."""
    from amaranth.back import verilog

    return verilog.convert(build_accelerator(ir, lanes, beat), name=name, emit_src=False)
