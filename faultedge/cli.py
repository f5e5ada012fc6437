"""The `faultedge` command. Each subcommand maps to one stage and lives in faultedge.commands.

Heavy libraries (torch, brevitas, amaranth) are imported inside the commands, so `--help`
stays fast. Errors raised on purpose (FaultedgeError) are printed without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from faultedge import __version__
from faultedge.errors import FaultedgeError

# Subcommands in the order `faultedge --help` lists them; each is the module faultedge.commands.<name with _ for ->.
COMMANDS = ("demo", "run", "train", "evaluate", "quantize", "export", "hdl", "sim", "fpga", "sweep", "predict", "deploy", "bench", "distill-data", "train-mkw", "monitor")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="faultedge",
        description="Fault-diagnosis networks from PyTorch training to a bit-exact FPGA accelerator and edge devices. "
        "Every stage reads and writes one run directory (runs/NAME).",
    )
    parser.add_argument("--version", action="version", version=f"faultedge {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"faultedge.commands.{name.replace('-', '_')}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except FaultedgeError as exc:
        print(f"faultedge {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
