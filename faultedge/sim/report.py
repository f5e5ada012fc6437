"""`faultedge sim` on a run directory: the design from hdl/, the vectors from `faultedge quantize`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from faultedge.errors import RunDirError
from faultedge.hdl.artifacts import REPORT as HDL_REPORT
from faultedge.hdl.artifacts import VERILOG
from faultedge.ir import IRModel
from faultedge.runs import RunDir, read_json, write_json
from faultedge.sim.verify import verify

REPORT = "sim/report.json"


# random and back-pressured inputs when not given: fewer for image networks (~400 k cycles per image)
EXTRA_INPUTS = {"mkw": 2}
DEFAULT_EXTRA_INPUTS = 32


def simulate_run(path: Path | str, limit: int | None = None, n_random: int | None = None, n_backpressure: int | None = None,
                 clock_mhz: float = 100.0, seed: int = 0, progress: bool = True) -> dict[str, Any]:
    run = RunDir(path)
    if not (run / HDL_REPORT).exists() or not (run / VERILOG).exists():
        raise RunDirError(f"{run.path} has no {VERILOG}: run `faultedge hdl {run.path} --lanes P` first")
    design = read_json(run / HDL_REPORT)
    ir_name, vectors_name = design["ir"], design["golden_vectors"]
    extra = EXTRA_INPUTS.get(design.get("network", ""), DEFAULT_EXTRA_INPUTS)
    n_random = extra if n_random is None else n_random
    n_backpressure = extra if n_backpressure is None else n_backpressure
    ir = IRModel.load(run.require(ir_name))
    try:
        with np.load(run.require(vectors_name)) as z:
            x = z["x_int"]
    except (OSError, ValueError, KeyError) as exc:
        raise RunDirError(f"{run / vectors_name}: not a golden-vector file ({exc}); run `faultedge quantize {run.path}` again") from None
    if limit is not None:
        x = x[: max(limit, 2)]
    verilog = (run / VERILOG).read_text(encoding="utf-8")
    report = verify(ir, verilog, design["lanes"], design["beat"], x, n_random, n_backpressure, seed, clock_mhz, design["toplevel"], progress)
    report = {"ir": ir_name, "golden_vectors": vectors_name, "verilog_sha256": design["verilog_sha256"], **report}
    write_json(run / REPORT, report)
    return report
