"""`faultedge quantize`: Brevitas QAT -> integer IR -> golden vectors, verified against Brevitas."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "quantize",
        help="quantisation-aware training, integer IR (model.ir.json) and golden vectors",
        description="Fine-tune the merged student (or the teacher, BatchNorm folded) with Brevitas fixed-point "
        "quantisation (power-of-two scales, 32-bit biases), export the integer IR and golden vectors, and check that "
        "the integer golden model reproduces Brevitas' logits exactly on the whole test set. Writes qat*.pt, "
        "model*.ir.json, golden_vectors*.npz and a metrics.json entry; file names carry _teacher and _16bit suffixes "
        "for the non-default network and bit width.",
    )
    p.add_argument("run", help="run directory made by `faultedge train`")
    p.add_argument("--network", choices=("student", "teacher"), default="student", help="which trained network (default student)")
    p.add_argument("--bits", type=int, default=8, choices=(4, 6, 8, 12, 16), help="weight/activation bit width (default 8)")
    p.add_argument("--epochs", type=int, default=12, help="maximum QAT epochs (early stopping on validation)")
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from faultedge.commands.common import print_table
    from faultedge.quant.qat import QATConfig
    from faultedge.quant.stage import quantize
    from faultedge.runs import RunDir

    entry = quantize(RunDir(args.run), args.network, QATConfig(bits=args.bits, epochs=args.epochs, lr=args.lr), progress=not args.quiet)
    print_table(
        [
            {"model": f"{args.network} float", "acc": entry["float_test"]["accuracy"], "f1": entry["float_test"]["f1_macro"]},
            {"model": f"{args.network} {args.bits}-bit (golden)", "acc": entry["test"]["accuracy"], "f1": entry["test"]["f1_macro"]},
        ],
        [("model", "model"), ("acc", "test acc %"), ("f1", "macro F1 %")],
    )
    check = entry["golden_vs_brevitas"]
    print(f"F1 drop {entry['f1_drop_pp']:+.2f} pp; golden == Brevitas (float64) on {check['samples']} test samples: "
          f"{check['mismatched_logits']} mismatched logits")
    print(f"wrote {', '.join(entry['artifacts'].values())} in {args.run}")
    return 0
