"""`faultedge hdl`: the run directory's hdl/ folder: the Verilog, the design point it was generated
for (design.json, read by sim and fpga build) and a report of the design (report.json)."""

from __future__ import annotations

import hashlib
from typing import Any

from amaranth.lib import wiring

from faultedge.errors import RunDirError
from faultedge.hdl.components.streams import signature_ports
from faultedge.hdl.cycles import model
from faultedge.hdl.design import DesignPoint, write_design
from faultedge.hdl.engines import engine, verilog_of
from faultedge.hdl.stream_plan import StreamPlan
from faultedge.ir import IRModel
from faultedge.ir.files import HDL_REPORT, TOPLEVEL, VERILOG
from faultedge.runs import RunDir, write_json, write_text


def ports(component: wiring.Component) -> dict[str, dict[str, Any]]:
    """The Verilog ports of a component, read from its signature: name -> direction and width."""
    return signature_ports(component.signature)


def design_report(p: StreamPlan, component: wiring.Component, verilog: str) -> dict[str, Any]:
    cm = model(p)
    return {
        "toplevel": TOPLEVEL,
        "lanes": p.lanes,
        "beat": p.beat,
        "macs": p.macs,
        "cycles": cm.per_inference,
        "bound": cm.bound,
        "cycle_model": cm.to_dict(),
        "memory_bits": p.memory_bits(),
        "ports": ports(component),
        "input_bits": p.input_bits,
        "logit_bits": p.logit_bits,
        "n_inputs": p.n_inputs,
        "n_classes": p.n_classes,
        "stages": p.report_stages(),
        "verilog_sha256": hashlib.sha256(verilog.encode()).hexdigest(),
    }


def generate(ir: IRModel, design: DesignPoint) -> tuple[str, dict[str, Any]]:
    """The Verilog of the design point's accelerator for `ir`, and its report (what hdl/report.json holds)."""
    eng = engine(design.engine)
    p = eng.planner(ir, design.lanes, design.beat)
    component = eng.build(p)
    verilog = verilog_of(component)
    art = design.artifacts
    return verilog, {"design": design.to_json(), "ir": art.ir, "golden_vectors": art.vectors, **design_report(p, component, verilog)}


def write_hdl(run: RunDir, design: DesignPoint) -> dict[str, Any]:
    """Generate the accelerator of the design point and write hdl/faultedge_accel.v, hdl/design.json and hdl/report.json."""
    art = design.artifacts
    if not (run / art.ir).exists():
        raise RunDirError(f"{run.path} has no {art.ir}: run `faultedge quantize {run.path} --network {design.network} --bits {design.bits}` first")
    verilog, report = generate(IRModel.load(run / art.ir), design)
    write_text(run / VERILOG, verilog)
    write_design(run, design)
    write_json(run / HDL_REPORT, report)
    return report
