"""`faultedge distill-data`: wavelet images -> expert trajectories -> a distilled data set."""

from __future__ import annotations

import argparse

from faultedge.commands.common import snr_arg
from faultedge.models.image_nets import CONVNET, MKW


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "distill-data",
        help="distil wavelet images (robot or CWRU) into a few synthetic images per class by trajectory matching",
        description="Turn windows into 32x32 CWT images (ZCA-whitened with training statistics), train expert networks "
        "on them, and optimise a small synthetic set whose training trajectory matches the experts' (MTT, seed 000). "
        "Writes dd_config.json, zca.npz, experts.pt, distilled.npz, distilled.png and distill_loss.png into the run "
        "directory; then `faultedge train-mkw RUN` trains MKW-Net on it.",
    )
    p.add_argument("--out", required=True, help="run directory to create, e.g. runs/robot_dd")
    p.add_argument("--data", default="robot", help="'robot' (synthetic six-axis drive currents, default) or a CWRU data directory")
    p.add_argument("--images-per-class", type=int, default=50, help="synthetic images per class (default 50)")
    p.add_argument("--seed", type=int, default=0, help="seed for data, experts and distillation")
    p.add_argument("--snr", type=snr_arg, help="add white noise at this SNR in dB (default: none for robot, -6 for CWRU)")
    p.add_argument("--n-train", type=int, default=500, help="real training windows per class (default 500)")
    p.add_argument("--n-val", type=int, default=250, help="validation windows per class (default 250)")
    p.add_argument("--n-test", type=int, default=250, help="test windows per class (default 250)")
    # defaults (None) come from DistillConfig, imported lazily with torch
    p.add_argument("--experts", type=int, help="expert trajectories (default: the DistillConfig default; reference 100)")
    p.add_argument("--expert-epochs", type=int, help="epochs per expert trajectory (default: the DistillConfig default)")
    p.add_argument("--iterations", type=int, help="distillation iterations (default: the DistillConfig default)")
    p.add_argument("--syn-steps", type=int, help="unrolled student steps per iteration (default: the DistillConfig default)")
    p.add_argument("--net", choices=(CONVNET, MKW), help="the experts' and student's network: a static ConvNet with MKW-Net's "
                   "widths, or MKW-Net itself with its temperature schedule (default: the DistillConfig default)")
    p.add_argument("--init", choices=("random", "herding"), help="the real images the synthetic set starts from: random (MTT) or "
                   "herding in an expert's feature space (default: the DistillConfig default)")
    p.add_argument("--labels", choices=("soft", "hard"), help="soft: learn a label distribution per image, starting from an expert's "
                   "predictions (DATM); hard: the class only (default: the DistillConfig default)")
    p.add_argument("--min-start-epoch", type=int, help="earliest expert epoch a matched segment starts at (default: the DistillConfig default)")
    p.add_argument("--augment", help="differentiable augmentation ops, comma-separated from level, shift, stretch, cutout, or none "
                   "(default: all four for robot, shift for CWRU); also used when training on the distilled or a random subset")
    p.add_argument("--threads", type=int, help="torch threads (1 is fastest on a busy machine)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace):
    from faultedge.data.images import ROBOT, ImageDataSpec, default_augment
    from faultedge.train.dataset_distill import DistillConfig
    from faultedge.train.dd_pipeline import DDConfig

    snr = args.snr if args.snr is not None or args.data == ROBOT else -6.0
    data = ImageDataSpec.for_source(args.data, seed=args.seed, snr_db=snr, n_train=args.n_train, n_val=args.n_val, n_test=args.n_test)

    def given(value, default):
        return default if value is None else value

    expert_train_epochs = given(args.expert_epochs, DistillConfig.expert_train_epochs)
    max_start = min(DistillConfig.max_start_epoch, expert_train_epochs - DistillConfig.expert_epochs)  # shorter experts: an earlier window
    try:
        distill = DistillConfig(
            images_per_class=args.images_per_class,
            n_experts=given(args.experts, DistillConfig.n_experts),
            expert_train_epochs=expert_train_epochs,
            max_start_epoch=max_start,
            iterations=given(args.iterations, DistillConfig.iterations),
            syn_steps=given(args.syn_steps, DistillConfig.syn_steps),
            augment=args.augment if args.augment is not None else default_augment(args.data),
            net=given(args.net, DistillConfig.net),
            init=given(args.init, DistillConfig.init),
            soft_labels=DistillConfig.soft_labels if args.labels is None else args.labels == "soft",
            min_start_epoch=given(args.min_start_epoch, min(DistillConfig.min_start_epoch, max_start // 2)),
        )
    except ValueError as exc:
        raise SystemExit(f"faultedge distill-data: error: {exc}") from None
    return DDConfig(data=data, distill=distill, seed=args.seed)


def run(args: argparse.Namespace) -> int:
    import torch

    from faultedge.runs import RunDir
    from faultedge.train.dd_pipeline import distill_run

    if args.threads:
        torch.set_num_threads(args.threads)
    entry = distill_run(RunDir(args.out), config_from_args(args), progress=not args.quiet)
    print(
        f"distilled {entry['images_per_class']} images per class ({len(entry['class_names'])} classes, images {entry['image_shape']}) "
        f"in {entry['seconds_total']:.0f} s (images {entry['seconds_images']:.0f} s, experts {entry['seconds_experts']:.0f} s, "
        f"matching {entry['seconds_distill']:.0f} s); loss {entry['loss_first_10']:.3f} -> {entry['loss_last_10']:.3f}, learned lr {entry['learned_lr']:.4f}"
    )
    print(f"run directory: {args.out}; next: faultedge train-mkw {args.out}")
    return 0
