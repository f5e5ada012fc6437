"""`faultedge sweep RUN`: design-space exploration on Ray (faultedge.sweep), results in RUN/sweep/."""

from __future__ import annotations

import argparse

from faultedge.commands.common import BITS
from faultedge.families import FAMILIES, STUDENT_NAME
from faultedge.hdl.design import DEFAULT_BOARD
from faultedge.hdl.frontend.plan import FRONTENDS, NO_FRONTEND


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sweep",
        help="design-space sweep on Ray: lanes x bits x beat x boards x seeds, each point hdl -> (sim) -> fpga build",
        description="Every design point (lanes, bits, beat, board, nextpnr seed) is a Ray task: generate the accelerator, "
        "optionally simulate it bit-exactly, place and route it (the core clock follows the achieved Fmax), and summarise "
        "resources, Fmax and latency. Ray starts embedded on this machine, or joins a cluster with --address. Results are "
        "cached under RUN/sweep/cache by a content hash (IR, design point, seed, tool versions, code), so a repeated sweep "
        "runs in seconds. Writes RUN/sweep/sweep.json after every point, then RUN/sweep/sweep.md (the table, also printed) "
        "and RUN/sweep/sweep.png (LUTs against latency, colour = Fmax, the Pareto front marked). A point that fails or does "
        "not fit is recorded with its reason; Ctrl-C cancels the pending points and keeps the finished ones.",
    )
    p.add_argument("run", help="run directory with the quantised IR of every width swept (`faultedge quantize RUN --bits N`)")
    p.add_argument("--network", choices=tuple(FAMILIES), default=STUDENT_NAME, help=f"which quantised network (default {STUDENT_NAME})")
    p.add_argument("--lanes", type=int, nargs="+", required=True, help="parallel MAC lanes P, powers of two")
    p.add_argument("--bits", type=int, nargs="+", choices=BITS, default=[8], help="bit widths, each with its IR in RUN (default 8)")
    p.add_argument("--beat", type=int, nargs="+", help="input values per beat, powers of two (default: per point, the smallest "
                   "whose load time is at most 1/8 of the compute time, up to 64)")
    p.add_argument("--boards", nargs="+", default=[DEFAULT_BOARD], help=f"FPGA boards (faultedge fpga boards; default {DEFAULT_BOARD})")
    p.add_argument("--seeds", type=int, nargs="+", default=[1], help="nextpnr placement seeds (default 1)")
    p.add_argument("--frontend", choices=FRONTENDS, default=NO_FRONTEND, help="none: features in; pipelined / iterative: raw samples "
                   "in through that FFT front end (the latency is then from a window's last sample; default none)")
    p.add_argument("--sim", action="store_true", help="simulate every point against the golden vectors before its build")
    p.add_argument("--pack", action="store_true", help="also pack bitstreams (left in RUN/sweep/work/POINT/fpga/BOARD)")
    p.add_argument("--clock-mhz", type=float, help="fixed core clock: one place-and-route pass per point")
    p.add_argument("--target-mhz", type=float, help="first pass's core clock when following Fmax (default: the board's)")
    p.add_argument("--pnr-budget-min", type=float, help="a point's place and route stops after this many minutes, keeping its "
                   "fastest pass that met timing, else the point is recorded as a timeout (default: no limit)")
    p.add_argument("--threads", type=int, default=1, help="nextpnr threads per point = CPUs per Ray task (default 1)")
    p.add_argument("--cpus", type=int, help="CPUs of the embedded Ray (default: all cores)")
    p.add_argument("--address", help="join this Ray cluster (HEAD:6379, from `ray start --head`) instead of starting Ray here")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from faultedge.errors import FaultedgeError
    from faultedge.runs import RunDir
    from faultedge.sweep import SweepOptions, grid, run_sweep
    from faultedge.sweep.report import markdown

    run_dir = RunDir(args.run)
    if args.sim and args.frontend != NO_FRONTEND:
        raise FaultedgeError("--sim with --frontend: a sample-in point is simulated on the run's recordings, which a sweep's "
                             "work directory does not hold; run `faultedge sim` on the chosen point (or benchmarks/frontend_hw.py)")
    points = grid(run_dir, args.network, args.lanes, args.bits, args.beat, args.boards, args.seeds, args.frontend)
    options = SweepOptions(sim=args.sim, pack=args.pack, clock_mhz=args.clock_mhz, target_mhz=args.target_mhz, threads=args.threads,
                           pnr_budget_min=args.pnr_budget_min)
    sweep = run_sweep(run_dir, points, options, args.address, args.cpus, progress=not args.quiet)
    print(markdown(sweep), end="")
    out = run_dir / "sweep"
    counts = {s: sum(p["status"] == s for p in sweep["points"]) for s in dict.fromkeys(p["status"] for p in sweep["points"])}
    print(f"{len(points)} point{'s' if len(points) != 1 else ''} ({', '.join(f'{n} {s}' for s, n in counts.items())}; "
          f"{sum(p['cached'] for p in sweep['points'])} from the cache) in {sweep['seconds']:.0f} s; "
          f"wrote {out / 'sweep.json'}, {out / 'sweep.md'} and {out / 'sweep.png'}")
    return 0
