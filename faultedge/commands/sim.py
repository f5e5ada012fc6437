"""`faultedge sim`: bit-exact cocotb + Verilator verification of the accelerator `faultedge hdl` generated."""

from __future__ import annotations

import argparse

from faultedge.families import FAMILIES
from faultedge.sim import DEFAULT_WINDOWS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sim",
        help="simulate the accelerator (Verilator + cocotb) against the golden model, bit for bit",
        description="Stream the run's golden vectors through the Verilog and design point written by `faultedge hdl`, then random "
        "inputs, saturating extremes and a mix under random valid/ready back-pressure, and compare every logit and class with "
        "the golden model. Measures cycles per inference and both latencies and checks them against the cycle model. "
        "Writes sim/report.json; exits 2 on any mismatch.",
    )
    defaults = ", ".join(f"{n} {f.sim_inputs}" for n, f in FAMILIES.items() if "sim" in f.steps)
    p.add_argument("run", help="run directory with hdl/ (from `faultedge hdl`) and golden vectors")
    p.add_argument("--limit", type=int, default=None, help="simulate only the first N golden vectors (default all)")
    p.add_argument("--random", type=int, help=f"random input vectors (default: the family's: {defaults})")
    p.add_argument("--backpressure", type=int, help=f"vectors streamed under random back-pressure (default: the family's: {defaults})")
    p.add_argument("--windows", type=int, default=DEFAULT_WINDOWS, help="sample-in designs: windows of the raw sample stream (default "
                   f"{DEFAULT_WINDOWS}; recordings noise-free and at -6 dB, silence, full scale, clipping, back-pressure)")
    p.add_argument("--clock-mhz", type=float, default=100.0, help="clock for the latency and throughput figures (default 100)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from faultedge.flow.config import FlowConfig, SimOptions
    from faultedge.flow.runner import run_step
    from faultedge.hdl.design import read_design
    from faultedge.runs import RunDir

    run_dir = RunDir(args.run)
    options = SimOptions(args.limit, args.random, args.backpressure, args.clock_mhz, args.seed, args.windows)
    run_step(run_dir, FlowConfig(network=read_design(run_dir).network, sim=options, progress=not args.quiet), "sim")
    return 0
