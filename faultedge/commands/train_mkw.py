"""`faultedge train-mkw`: train MKW-Net (or a baseline) on a run's distilled set and score it on real test data."""

from __future__ import annotations

import argparse

from faultedge.models.image_nets import IMAGE_NETS, MKW
from faultedge.tables import print_table

TRAIN_SETS = ("distilled", "random", "real")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train-mkw",
        help="train MKW-Net or a baseline on a run's distilled set (or a random real subset, or all real data)",
        description="Train on a run made by `faultedge distill-data` and score on its real test images (time-split, "
        "never seen in training). Models: mkw (MKW-Net), cnn (static CNN with MKW-Net's parameter budget), convnet "
        "(the ConvNet used for distillation). Training sets: distilled, random (real images, same size per class), "
        "real (all real training images, early stopping on validation). Every combination given is run.",
    )
    p.add_argument("run", metavar="RUN", help="run directory written by `faultedge distill-data`")
    p.add_argument("--model", nargs="+", choices=tuple(IMAGE_NETS), default=[MKW], help=f"model(s) to train (default {MKW})")
    p.add_argument("--train-on", nargs="+", choices=TRAIN_SETS, default=["distilled"], help="training set(s) (default distilled)")
    p.add_argument("--seed", type=int, default=0, help="seed for initialisation, batches and the random subset")
    p.add_argument("--epochs", type=int, help="override the epochs (default 100 on small sets, 30 on real data)")
    p.add_argument("--threads", type=int, help="torch threads (1 is fastest on a busy machine)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def print_entries(entries: list[dict]) -> None:
    rows = [
        {"model": e["model"], "train_on": e["train_on"], "n": e["train_images"], "params": e["params"], "macs": e["macs"], "acc": e["test"]["accuracy"], "f1": e["test"]["f1_macro"], "s": e["train_seconds"]}
        for e in entries
    ]
    print_table(rows, [("model", "model"), ("train_on", "trained on"), ("n", "images"), ("params", "params"), ("macs", "MACs"), ("acc", "real test acc %"), ("f1", "macro F1 %"), ("s", "seconds")])


def run(args: argparse.Namespace) -> int:
    import torch

    from faultedge.runs import RunDir
    from faultedge.train.dd_pipeline import train_runs

    if args.threads:
        torch.set_num_threads(args.threads)
    run_dir = RunDir(args.run)
    entries = train_runs(run_dir, [(m, t) for m in args.model for t in args.train_on], args.seed, not args.quiet, args.epochs)
    print_entries(entries)
    print(f"run directory: {run_dir.path} (metrics.json, <model>_<set>.pt, confusion_<model>_<set>.png)")
    return 0
