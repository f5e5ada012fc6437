"""`faultedge sim` on a run directory: the Verilog and design point from `faultedge hdl`, the vectors from `faultedge quantize`."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from faultedge.errors import RunDirError
from faultedge.hdl.design import read_design
from faultedge.ir import IRModel
from faultedge.ir.files import SIM_REPORT, TOPLEVEL, VERILOG
from faultedge.runs import RunDir, write_json
from faultedge.sim.verify import verify


def simulate_run(run: RunDir, n_random: int, n_backpressure: int, limit: int | None = None, clock_mhz: float = 100.0, seed: int = 0,
                 progress: bool = True) -> dict[str, Any]:
    """Simulate the run's generated accelerator on its golden vectors (the first `limit`), random and back-pressured inputs."""
    design = read_design(run)
    art = design.artifacts
    ir = IRModel.load(run.require(art.ir))
    try:
        with np.load(run.require(art.vectors)) as z:
            x = z["x_int"]
    except (OSError, ValueError, KeyError) as exc:
        raise RunDirError(f"{run / art.vectors}: not a golden-vector file ({exc}); run `faultedge quantize {run.path}` again") from None
    if limit is not None:
        x = x[: max(limit, 2)]
    verilog = run.require(VERILOG).read_text(encoding="utf-8")
    report = verify(ir, verilog, design.lanes, design.beat, x, n_random, n_backpressure, seed, clock_mhz, TOPLEVEL, progress, design.engine)
    report = {"design": design.to_json(), "ir": art.ir, "golden_vectors": art.vectors, "verilog_sha256": hashlib.sha256(verilog.encode()).hexdigest(), **report}
    write_json(run / SIM_REPORT, report)
    return report
