"""Argument types shared by the subcommands."""

from __future__ import annotations

import argparse

from faultedge.families import FAMILIES, STUDENT_NAME

BITS = (4, 6, 8, 12, 16)


def add_network_args(p: argparse.ArgumentParser, network_help: str, bits_help: str) -> None:
    """--network (a family of faultedge.families) and --bits: which quantised network of a run."""
    p.add_argument("--network", choices=tuple(FAMILIES), default=STUDENT_NAME, help=f"{network_help} (default {STUDENT_NAME})")
    p.add_argument("--bits", type=int, default=8, choices=BITS, help=f"{bits_help} (default 8)")


def snr_arg(text: str) -> float | None:
    """An SNR in dB, or 'none' for noise-free windows."""
    if text.lower() in ("none", "clean", "inf"):
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an SNR in dB or 'none', got {text!r}") from None


def loads_arg(text: str) -> tuple[int, ...]:
    """A comma-separated list of motor loads in hp, e.g. '0' or '0,1'."""
    try:
        loads = tuple(int(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected loads like '0' or '0,1', got {text!r}") from None
    if any(not 0 <= x <= 3 for x in loads):
        raise argparse.ArgumentTypeError(f"CWRU loads are 0..3 hp, got {text!r}")
    return loads
