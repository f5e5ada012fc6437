"""`faultedge fpga build RUN --board B`: the accelerator on a board, from the IR to a bitstream and report.json."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fpga",
        help="build the accelerator for an FPGA board (bitstream, resources, Fmax, latency) or list the boards",
        description="FPGA builds of the run's integer IR (model.ir.json): the accelerator with a UART host interface "
        "and a PLL core clock. ECP5 and iCE40 boards go through yosys, nextpnr and ecppack/icepack to a bitstream; "
        "the core clock follows the Fmax that place and route achieves. Xilinx boards get a yosys resource estimate "
        "and a Vivado project script + XDC. Writes RUN/fpga/BOARD/report.json.",
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    b = actions.add_parser("build", help="build for one board", description=p.description)
    b.add_argument("run", help="run directory with the quantised IR (`faultedge quantize RUN [--network N]`)")
    b.add_argument("--board", required=True, help="board profile (faultedge fpga boards lists them)")
    b.add_argument("--network", choices=("student", "teacher", "mkw"), default="student",
                   help="which quantised network (default student; mkw: MKW-Net on the image engine, lanes must divide 8)")
    b.add_argument("--lanes", type=int, default=16, help="parallel MAC lanes (default 16)")
    b.add_argument("--beat", type=int, default=1, help="input values per input beat (default 1)")
    b.add_argument("--clock-mhz", type=float, help="fixed core clock: one place-and-route pass, no bitstream unless timing is met")
    b.add_argument("--target-mhz", type=float, help="first pass's core clock when following Fmax (default: the profile's)")
    b.add_argument("--baud", type=int, help="UART baud rate (default: the profile's)")
    b.add_argument("--seed", type=int, default=1, help="nextpnr placement seed")
    b.set_defaults(func=run_build)
    ls = actions.add_parser("boards", help="list the FPGA board profiles")
    ls.set_defaults(func=run_boards)


def run_build(args: argparse.Namespace) -> int:
    from faultedge.errors import FaultedgeError
    from faultedge.fpga.build import BuildOptions, build
    from faultedge.runs import RunDir

    if args.lanes < 1 or args.beat < 1:
        raise FaultedgeError("--lanes and --beat must be >= 1")
    opts = BuildOptions(lanes=args.lanes, beat=args.beat, clock_mhz=args.clock_mhz, target_mhz=args.target_mhz,
                        baud=args.baud, seed=args.seed)
    report = build(RunDir(args.run), args.board, opts, network=args.network)
    print_report(report)
    return 0 if report.get("timing_met") is not False else 1


def print_report(r: dict) -> None:
    res = r.get("resources", {})
    avail = res.get("available", {})
    print(f"{r['board']} ({r['device']}): {r['fit']['message']}")
    print("  " + ", ".join(f"{k} {res[k]:,}/{avail.get(k, 0):,}" for k in ("lut", "ff", "dsp", "bram") if k in res) + f" ({res.get('stage')})")
    c = r["cycles"]
    print(f"  cycles: {c['latency_first']} first beat -> result, {c['latency_last']} last beat -> result, "
          f"{c['per_inference']} per inference (steady state)")
    if r.get("fmax_mhz"):
        print(f"  Fmax {r['fmax_mhz']:.2f} MHz, core clock {r['clock_mhz']:g} MHz: timing {'met' if r['timing_met'] else 'NOT met'}")
    if r.get("latency_us") is not None:
        print(f"  latency {r['latency_us']:.3f} us (first beat), {r['latency_last_beat_us']:.3f} us (last beat), "
              f"{r['throughput_per_s']:,.0f} windows/s")
    if r.get("bitstream"):
        print(f"  bitstream {r['bitstream']['path']} (sha256 {r['bitstream']['sha256'][:16]}...)")
    if r.get("vivado"):
        print(f"  Vivado: {r['vivado']['run']}")
    if r.get("note"):
        print(f"  note: {r['note']}")


def run_boards(args: argparse.Namespace) -> int:
    from faultedge.fpga.board import fpga_boards, load_fpga_board

    for name in fpga_boards():
        b = load_fpga_board(name)
        print(f"{name:14s} {b.family:6s} {b.description}")
    return 0
