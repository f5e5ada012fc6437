"""`faultedge hdl`: the run directory's hdl/ folder (Verilog and a report of the design point)."""

from __future__ import annotations

import hashlib
from typing import Any

from faultedge.hdl import generate_verilog
from faultedge.hdl.cycles import model
from faultedge.hdl.image_plan import ImagePlan
from faultedge.hdl.plan import Plan, class_bits, plan
from faultedge.ir import IRModel
from faultedge.errors import RunDirError
from faultedge.runs import RunDir, write_json, write_text

TOPLEVEL = "faultedge_accel"
VERILOG = f"hdl/{TOPLEVEL}.v"
REPORT = "hdl/report.json"


def ports(p: Plan | ImagePlan) -> dict[str, int]:
    """Port widths of the accelerator (the contract with board tops and testbenches)."""
    return {
        "in_valid": 1,
        "in_ready": 1,
        "in_data": p.beat * p.input_bits,
        "out_valid": 1,
        "out_ready": 1,
        "out_class": class_bits(p.n_classes),
        "out_logits": p.n_classes * p.logit_bits,
    }


def design_report(p: Plan | ImagePlan, verilog: str) -> dict[str, Any]:
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
        "ports": ports(p),
        "input_bits": p.input_bits,
        "logit_bits": p.logit_bits,
        "n_inputs": p.n_inputs,
        "n_classes": p.n_classes,
        "stages": p.report_stages(),
        "verilog_sha256": hashlib.sha256(verilog.encode()).hexdigest(),
    }


def write_hdl(run: RunDir, lanes: int, beat: int = 1, network: str = "student", bits: int = 8) -> dict[str, Any]:
    """Generate the accelerator of the run's quantised `network` and write hdl/faultedge_accel.v and hdl/report.json."""
    from faultedge.quant.verify import Artifacts

    art = Artifacts(network, bits)
    if not (run / art.ir).exists():
        raise RunDirError(f"{run.path} has no {art.ir}: run `faultedge quantize {run.path} --network {network} --bits {bits}` first")
    ir = IRModel.load(run / art.ir)
    p = plan(ir, lanes, beat)
    verilog = generate_verilog(ir, lanes, beat, TOPLEVEL)
    report = {"ir": art.ir, "golden_vectors": art.vectors, "network": network, "bits": bits, **design_report(p, verilog)}
    write_text(run / VERILOG, verilog)
    write_json(run / REPORT, report)
    return report
