"""`faultedge quantize`: QAT -> integer IR -> golden vectors, verified against the quantised network, for any family."""

from __future__ import annotations

import argparse

from faultedge.commands.common import add_network_args
from faultedge.families import FAMILIES


def register(sub: argparse._SubParsersAction) -> None:
    sources = "; ".join(f"{n}: {', '.join(f.sources)}" for n, f in FAMILIES.items() if f.sources)
    p = sub.add_parser(
        "quantize",
        help="quantisation-aware training, integer IR (model*.ir.json) and golden vectors (student, teacher, MKW-Net)",
        description="Fine-tune a run's trained network with Brevitas fixed-point quantisation (power-of-two scales, 32-bit biases; "
        "the teacher with its BatchNorms folded; MKW-Net calibrated first, with its attention's exactly rounded division and "
        "per-image kernels), export the integer IR and golden vectors, and check that the integer golden model reproduces the "
        "Brevitas network's logits exactly on the whole test set. Writes qat*.pt, model*.ir.json, golden_vectors*.npz, "
        "confusion_NETWORK_BITSbit.png and a metrics.json entry; file names carry _NETWORK and _BITSbit suffixes except for the "
        "8-bit student.",
    )
    p.add_argument("run", help="run directory made by `faultedge train` (or `faultedge distill-data` + `train-mkw` for mkw)")
    add_network_args(p, "which trained network", "weight/activation bit width (MKW-Net up to 8)")
    p.add_argument("--epochs", type=int, help="maximum QAT epochs, early stopping on validation (default: the family's; student 12, mkw 8)")
    p.add_argument("--lr", type=float, help="QAT learning rate (default: the family's; student 2e-4, mkw 5e-4)")
    p.add_argument("--train-on", dest="source", help=f"which trained weights, where a family has several ({sources}; default the first)")
    p.add_argument("--threads", type=int, help="torch threads (1 is fastest on a busy machine)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from faultedge.flow.config import FlowConfig
    from faultedge.flow.runner import run_step
    from faultedge.runs import RunDir

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    overrides = {k: v for k, v in (("epochs", args.epochs), ("lr", args.lr)) if v is not None}
    cfg = FlowConfig(network=args.network, bits=args.bits, qat=overrides, source=args.source, progress=not args.quiet)
    run_step(RunDir(args.run), cfg, "quantize")
    return 0
