"""`faultedge hdl`: the design point -> the accelerator's Verilog, hdl/design.json and hdl/report.json."""

from __future__ import annotations

import argparse

from faultedge.commands.common import add_network_args
from faultedge.families import FAMILIES
from faultedge.hdl.design import DEFAULT_BOARD
from faultedge.hdl.frontend.plan import FRONTENDS, NO_FRONTEND


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "hdl",
        help="generate the accelerator's Verilog and its design point (hdl/faultedge_accel.v, hdl/design.json, hdl/report.json)",
        description="Turn a quantised network's integer IR into the engine its family names: the 1-D engine (one MAC engine of "
        "P parallel lanes reused by every conv and linear layer, weights in initialised memories, requantisation, max-pool and "
        "argmax) or the image engine (MKW-Net: P lanes for every kernel assembly, convolution and the head, with an attention "
        "unit and divider beside them), with valid/ready streams. Writes hdl/faultedge_accel.v (the same IR and options always "
        "give the same bytes), hdl/design.json (the design point, which `faultedge sim` and `faultedge fpga build` use) and "
        "hdl/report.json (cycles from the analytic model, the lower bound, MACs, memory bits, ports).",
    )
    p.add_argument("run", help="run directory with the quantised IR (from `faultedge quantize`)")
    add_network_args(p, "which quantised network", "the bit width it was quantised at")
    p.add_argument("--lanes", type=int, help="parallel MAC lanes P, a power of two (default: the family's: "
                   + ", ".join(f"{n} {f.lanes}" for n, f in FAMILIES.items() if "hdl" in f.steps) + ")")
    p.add_argument("--beat", type=int, help="input values per stream beat, a power of two (default: the family's: "
                   + ", ".join(f"{n} {f.beat}" for n, f in FAMILIES.items() if "hdl" in f.steps) + ")")
    p.add_argument("--board", default=DEFAULT_BOARD, help=f"the FPGA board `faultedge fpga build` targets by default (default {DEFAULT_BOARD})")
    add_frontend_arg(p)
    p.set_defaults(func=run)


def add_frontend_arg(p: argparse.ArgumentParser) -> None:
    """--frontend: features in (none), or raw samples in through the pipelined or the iterative FFT."""
    p.add_argument("--frontend", choices=FRONTENDS, default=NO_FRONTEND,
                   help="none: the accelerator takes the network's inputs (features); pipelined / iterative: it takes raw samples and "
                   "computes them with the IR's front end (window buffer, FFT of that architecture, magnitude, normalisation), one "
                   "result per hop (default none)")


def run(args: argparse.Namespace) -> int:
    from faultedge.flow.config import FlowConfig
    from faultedge.flow.runner import run_step
    from faultedge.runs import RunDir

    run_step(RunDir(args.run), FlowConfig(network=args.network, bits=args.bits, lanes=args.lanes, beat=args.beat, board=args.board,
                                          frontend=args.frontend), "hdl")
    return 0
