"""`faultedge hdl`: the run directory's hdl/ folder: the Verilog, the design point it was generated
for (design.json, read by sim and fpga build) and a report of the design (report.json). A sample-in
design also gets its front end alone (faultedge_frontend.v), which `faultedge fpga build` synthesises
by itself to report the front end's resources apart from the engine's."""

from __future__ import annotations

import hashlib
from typing import Any

from amaranth.lib import wiring

from faultedge.errors import IRError, RunDirError
from faultedge.hdl.components.streams import signature_ports
from faultedge.hdl.cycles import frontend_model, model
from faultedge.hdl.frontend.plan import FrontEndPlan, check_frontend
from faultedge.hdl.design import DesignPoint, write_design
from faultedge.hdl.engines import engine, verilog_of
from faultedge.hdl.stream_plan import StreamPlan
from faultedge.ir import IRModel, frontend
from faultedge.ir.files import HDL_REPORT, TOPLEVEL, VERILOG
from faultedge.runs import RunDir, read_json, write_json, write_text


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


def frontend_report(fp: FrontEndPlan, p: StreamPlan) -> dict[str, Any]:
    """A sample-in design's front end: its figures and its cycle model (the input is a sample stream)."""
    return {**fp.figures(), "cycle_model": frontend_model(fp, p).to_dict()}


FRONTEND_TOPLEVEL = "faultedge_frontend"
FRONTEND_VERILOG = f"hdl/{FRONTEND_TOPLEVEL}.v"


def frontend_verilog(ir: IRModel, design: DesignPoint) -> str:
    """The sample-in design's front end alone (raw samples in, addressed inputs out), for its own synthesis."""
    from faultedge.hdl.frontend.chain import FrontEndChain

    return verilog_of(FrontEndChain(check_frontend(ir.frontend, design.frontend, "faultedge quantize RUN"), ir.input.bits), FRONTEND_TOPLEVEL)


def generate(ir: IRModel, design: DesignPoint, quantize_command: str = "faultedge quantize RUN") -> tuple[str, dict[str, Any]]:
    """The Verilog of the design point's accelerator for `ir`, and its report (what hdl/report.json holds)."""
    eng = engine(design.engine)
    if design.sample_in:
        eng.require_sample_in()
    fp = check_frontend(ir.frontend, design.frontend, quantize_command) if design.sample_in else None
    if fp is not None and design.beat != 1:
        raise IRError(f"beat {design.beat}: a sample-in accelerator takes one sample per transfer and writes its inputs one at a time (beat 1)")
    p = eng.planner(ir, design.lanes, design.beat)
    component = eng.build(p) if fp is None else eng.build_sample_in(p, fp)
    verilog = verilog_of(component)
    art = design.artifacts
    report = {"design": design.to_json(), "ir": art.ir, "golden_vectors": art.vectors, **design_report(p, component, verilog)}
    if fp is not None:
        report["frontend"] = frontend_report(fp, p)
    return verilog, report


def write_hdl(run: RunDir, design: DesignPoint) -> dict[str, Any]:
    """Generate the accelerator of the design point and write hdl/faultedge_accel.v, hdl/design.json and hdl/report.json."""
    art = design.artifacts
    if not (run / art.ir).exists():
        raise RunDirError(f"{run.path} has no {art.ir}: run `faultedge quantize {run.path} --network {design.network} --bits {design.bits}` first")
    ir = IRModel.load(run / art.ir)
    if design.sample_in and ir.frontend is not None and (run / "preprocessing.json").exists():
        frontend.check_preprocessing(ir.frontend, read_json(run / "preprocessing.json"), ir.input.scale_exp, str(run / "preprocessing.json"))
    verilog, report = generate(ir, design, f"faultedge quantize {run.path}")
    if design.sample_in:
        write_text(run / FRONTEND_VERILOG, frontend_verilog(ir, design))
    else:
        (run / FRONTEND_VERILOG).unlink(missing_ok=True)  # from an earlier sample-in design
    write_text(run / VERILOG, verilog)
    write_design(run, design)
    write_json(run / HDL_REPORT, report)
    return report
