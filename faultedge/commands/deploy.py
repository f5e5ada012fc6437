"""`faultedge deploy`: a deployment bundle for one edge board (models, runner, manifest with checksums)."""

from __future__ import annotations

import argparse
from pathlib import Path

from faultedge.families import FAMILIES, STUDENT_NAME


def register(sub: argparse._SubParsersAction) -> None:
    from faultedge.boards import list_boards

    boards = list_boards("edge")
    p = sub.add_parser(
        "deploy",
        help="write a deployment bundle for an edge board",
        description="Write a self-contained bundle: the run's ONNX models of one network, run.py (needs only numpy and "
        "onnxruntime), the board's requirements.txt and README.md, and manifest.json with the sha256 of every "
        "file, the preprocessing spec, labels, quantisation and versions. run.py verifies the checksums before "
        "it loads anything. The bundle is built in a temporary directory and renamed into place. "
        f"Boards: {', '.join(boards)} (profiles in faultedge/boards/edge/).",
    )
    p.add_argument("run", help="run directory made by `faultedge train` (and `faultedge quantize` for int8)")
    p.add_argument("--board", required=True, choices=boards)
    p.add_argument("--network", choices=[n for n, f in FAMILIES.items() if "bundle" in f.steps], default=STUDENT_NAME,
                   help=f"which trained network (default {STUDENT_NAME})")
    p.add_argument("--out", type=Path, help="bundle directory (default RUN/bundle/BOARD, RUN/bundle/BOARD_NETWORK for a network "
                   "other than the student)")
    p.add_argument("--force", action="store_true", help="replace an existing bundle directory")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from faultedge.flow.config import BundleOptions, FlowConfig
    from faultedge.flow.runner import run_step
    from faultedge.runs import RunDir

    run_step(RunDir(args.run), FlowConfig(network=args.network, bundle=BundleOptions(args.board, args.out, args.force)), "bundle")
    return 0
