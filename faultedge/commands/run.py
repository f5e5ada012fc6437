"""`faultedge run`: named flow steps on one run directory (FINN-style build steps)."""

from __future__ import annotations

import argparse

from faultedge.commands.hdl import add_frontend_arg
from faultedge.families import FAMILIES, STUDENT_NAME
from faultedge.flow.steps import STEPS


def register(sub: argparse._SubParsersAction) -> None:
    families = "; ".join(f"{name}: {', '.join(f.steps)}" for name, f in FAMILIES.items())
    p = sub.add_parser(
        "run",
        help="run named flow steps (train, quantize, export, hdl, sim, fpga, bundle, bench) on a run directory",
        description="Run a network family's flow steps in order on one run directory: all of them, those named with --steps, "
        "or the range --from .. --to. Each step uses the defaults of the command that runs it alone (faultedge train, "
        "quantize, export, hdl, sim, fpga build, deploy, bench); a step that finds its input missing says which step to run first. "
        f"The steps of each family: {families}.",
    )
    p.add_argument("run", help="run directory, e.g. runs/cwru0 (created by the train step)")
    p.add_argument("--network", choices=tuple(FAMILIES), default=STUDENT_NAME, help=f"network family (default {STUDENT_NAME})")
    p.add_argument("--data", help="data source of a new run: a CWRU data directory (default: the family's embedded synthetic data)")
    p.add_argument("--seed", type=int, default=0, help="seed of a new run (data, initialisation, batches)")
    p.add_argument("--steps", nargs="+", choices=tuple(STEPS), metavar="STEP", help="only these steps (in flow order)")
    p.add_argument("--from", dest="start", choices=tuple(STEPS), metavar="STEP", help="first step to run")
    p.add_argument("--to", dest="stop", choices=tuple(STEPS), metavar="STEP", help="last step to run")
    p.add_argument("--bits", type=int, default=8, help="quantisation bit width (default 8)")
    p.add_argument("--lanes", type=int, help="parallel MAC lanes (default: the family's)")
    p.add_argument("--beat", type=int, help="input values per input beat (default: the family's)")
    p.add_argument("--board", help="FPGA board of the design point (default ulx3s-85f)")
    add_frontend_arg(p)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from faultedge.flow.config import FlowConfig
    from faultedge.flow.runner import run_steps, select_steps
    from faultedge.hdl.design import DEFAULT_BOARD
    from faultedge.runs import RunDir

    cfg = FlowConfig(network=args.network, data=args.data, seed=args.seed, bits=args.bits, lanes=args.lanes, beat=args.beat,
                     board=args.board or DEFAULT_BOARD, frontend=args.frontend, progress=not args.quiet)
    run_steps(RunDir(args.run), cfg, select_steps(cfg.family.steps, args.steps, args.start, args.stop))
    return 0
