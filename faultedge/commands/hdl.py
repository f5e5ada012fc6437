"""`faultedge hdl`: generate the accelerator's Verilog and its design report from the IR."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "hdl",
        help="generate the Amaranth accelerator and its Verilog (hdl/faultedge_accel.v, hdl/report.json)",
        description="Turn the run's integer IR into an accelerator with one MAC engine of P parallel lanes reused by every "
        "conv and linear layer, weights in initialised memories, requantisation, max-pool and argmax, with valid/ready "
        "streams (MKW-Net: the image engine, whose P lanes run every kernel assembly, convolution and the head, with an "
        "attention unit and divider beside them). Writes hdl/faultedge_accel.v (the same IR and options always give the same bytes) and hdl/report.json "
        "(cycles from the analytic model, the lower bound, MACs, memory bits, ports).",
    )
    p.add_argument("run", help="run directory with model.ir.json (from `faultedge quantize`)")
    p.add_argument("--lanes", type=int, default=32, help="parallel MAC lanes P, a power of two (default 32)")
    p.add_argument("--beat", type=int, default=1, help="input values per stream beat, a power of two (default 1)")
    p.add_argument("--network", choices=("student", "teacher", "mkw"), default="student",
                   help="which quantised network (default student; mkw: MKW-Net on the image engine)")
    p.add_argument("--bits", type=int, default=8, help="bit width it was quantised at (default 8)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from faultedge.commands.common import print_table
    from faultedge.hdl.artifacts import REPORT, VERILOG, write_hdl
    from faultedge.runs import RunDir

    report = write_hdl(RunDir(args.run), args.lanes, args.beat, args.network, args.bits)
    if "pc" in report["stages"][0]:
        print_table(report["stages"], [("name", "stage"), ("pc", "channel lanes"), ("pr", "reduction lanes"), ("issue_cycles", "issue cycles"), ("banks", "banks")])
    else:  # the image engine: one row per phase
        print_table(report["stages"], [("name", "phase"), ("cycles", "cycles")])
    cm = report["cycle_model"]
    print(f"{report['lanes']} lanes, beat {report['beat']}: {cm['per_inference']:,} cycles per inference (bound {cm['bound']:,}), "
          f"latency {cm['latency_first']:,} cycles from the first input beat, {cm['latency_last']:,} from the last; "
          f"{report['macs']:,} MACs, {report['memory_bits']['total']:,} memory bits")
    print(f"wrote {VERILOG} and {REPORT} in {args.run}")
    return 0
