"""`faultedge sim` on a run directory: the Verilog and design point from `faultedge hdl`, the vectors from `faultedge quantize`."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from faultedge.errors import RunDirError
from faultedge.hdl.design import DesignPoint, read_design
from faultedge.ir import IRModel
from faultedge.ir.files import SIM_REPORT, TOPLEVEL, VERILOG
from faultedge.runs import RunDir, write_json
from faultedge.sim import DEFAULT_WINDOWS
from faultedge.sim.samples import stream_parts, test_recordings
from faultedge.sim.verify import verify, verify_samples


def simulate_run(run: RunDir, n_random: int, n_backpressure: int, limit: int | None = None, clock_mhz: float = 100.0, seed: int = 0,
                 progress: bool = True, windows: int = DEFAULT_WINDOWS) -> dict[str, Any]:
    """Simulate the run's generated accelerator on its golden vectors (the first `limit`), random and back-pressured inputs;
    a sample-in design on a raw sample stream of about `windows` windows (faultedge.sim.samples)."""
    design = read_design(run)
    art = design.artifacts
    ir = IRModel.load(run.require(art.ir))
    verilog = run.require(VERILOG).read_text(encoding="utf-8")
    if design.sample_in:
        if ir.frontend is None:
            raise RunDirError(f"{run / art.ir} has no front end: run `faultedge quantize {run.path}`, then `faultedge hdl {run.path} --frontend {design.frontend}`")
        parts = stream_parts(ir.frontend, test_recordings(run), windows, seed)
        report = verify_samples(ir, verilog, design.lanes, design.frontend, parts, seed, clock_mhz, TOPLEVEL, progress)
        return _write(run, design, verilog, report)
    try:
        with np.load(run.require(art.vectors)) as z:
            x = z["x_int"]
    except (OSError, ValueError, KeyError) as exc:
        raise RunDirError(f"{run / art.vectors}: not a golden-vector file ({exc}); run `faultedge quantize {run.path}` again") from None
    if limit is not None:
        x = x[: max(limit, 2)]
    report = verify(ir, verilog, design.lanes, design.beat, x, n_random, n_backpressure, seed, clock_mhz, TOPLEVEL, progress, design.engine)
    return _write(run, design, verilog, report)


def _write(run: RunDir, design: DesignPoint, verilog: str, report: dict[str, Any]) -> dict[str, Any]:
    art = design.artifacts
    report = {"design": design.to_json(), "ir": art.ir, "golden_vectors": art.vectors, "verilog_sha256": hashlib.sha256(verilog.encode()).hexdigest(), **report}
    write_json(run / SIM_REPORT, report)
    return report
