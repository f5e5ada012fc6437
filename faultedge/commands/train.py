"""`faultedge train`: teacher -> DKD student -> LoRA fine-tune -> merged student."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from faultedge.commands.common import loads_arg, snr_arg
from faultedge.data.features import FEATURES, SCALES
from faultedge.errors import RunDirError

if TYPE_CHECKING:
    from faultedge.runs import RunDir

STAGE_CHOICES = ("all", "teacher", "student", "lora", "merge")
RECIPES = ("robust", "reference")
SCHEDULES = ("constant", "cosine")  # faultedge.train.loop.SCHEDULES (that module imports torch)
LOSSES = ("ce", "weighted", "focal", "ghl")  # faultedge.train.losses.CLASS_LOSSES (that module imports torch)
NETWORKS = ("student", "axmlp")  # the chain's student, or the axial-shift MLP family
DISTILL = ("dynamic", "none")  # faultedge.train.sdd.DISTILL (that module imports torch)
AUGMENT_OPTIONS = {"train_snr": "snr_range", "clean_fraction": "clean_fraction", "low_snr_weight": "low_snr_weight", "speed": "speed", "gain_db": "gain_db"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train teacher, DKD student, LoRA fine-tune and merge into a run directory",
        description="Train the teacher (69,626 params), distil the 2,830-parameter student with DKD, fine-tune it "
        "with rank-r LoRA and merge the adapters back. With --stage, run one stage on an existing run directory "
        "(its config.json decides the data and hyperparameters).",
    )
    p.add_argument("--data", default="synthetic", help="CWRU data directory with .mat files, or 'synthetic' (default)")
    p.add_argument("--out", required=True, help="run directory to create or continue, e.g. runs/cwru0")
    p.add_argument("--stage", choices=STAGE_CHOICES, action="append", help="stage(s) to run (default: all)")
    p.add_argument("--seed", type=int, default=0, help="seed for windows, noise, initialisation and batches")
    p.add_argument("--snr", type=snr_arg, default=-6.0, help="validation/test SNR in dB, or 'none' (default -6); "
                   "the reference recipe also trains at it")
    add_recipe_args(p)
    p.add_argument("--loads", type=loads_arg, default=(0,), help="motor loads in hp to train and test on (default 0)")
    p.add_argument("--n-train", type=int, default=500, help="training windows per class (default 500)")
    p.add_argument("--imbalance", type=float, default=1.0, metavar="RATIO",
                   help="normal : fault training windows: the normal class keeps --n-train, each fault class gets "
                   "--n-train / RATIO (default 1, balanced; validation and test stay balanced)")
    p.add_argument("--lora-rank", type=int, default=12)
    p.add_argument("--network", choices=NETWORKS, default="student",
                   help="student (default): the teacher -> DKD -> LoRA -> merge chain; axmlp: the axial-shift MLP in one stage "
                   "with the teacher-free dynamic distillation of seed 004 (faultedge.train.sdd)")
    p.add_argument("--distill", choices=DISTILL, help="one stage, no pre-trained teacher: dynamic (the default for axmlp) trains "
                   "a dynamic teacher with the student, none trains the student on the labels alone; with --network student, "
                   "the CNN student is trained this way instead of the chain")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the other core prepares the next epoch; "
                   "more threads only pay on an idle machine with more cores)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def add_recipe_args(p: argparse.ArgumentParser) -> None:
    """--recipe and the robust recipe's augmentation options (shared with benchmarks/robustness.py)."""
    p.add_argument("--recipe", choices=RECIPES, default="robust",
                   help="robust (default): training SNR drawn per window over a range, some windows noise-free, speed "
                   "jitter; reference: train at --snr only, as the papers do")
    p.add_argument("--train-snr", type=float, nargs=2, metavar=("LOW", "HIGH"), help="robust: training SNR range in dB (default -10 6)")
    p.add_argument("--clean-fraction", type=float, help="robust: fraction of noise-free training windows (default 0.3)")
    p.add_argument("--low-snr-weight", type=float, help="robust: how much likelier the lower half of the SNR range is (default 1)")
    p.add_argument("--speed", type=float, help="robust: frequency-axis scaling jitter, 0.01 = ±1 %% (default 0.01)")
    p.add_argument("--gain-db", type=float, help="robust: recording-level jitter in ±dB (default 0)")
    p.add_argument("--feature-scale", choices=SCALES, help="the features' standardisation: bin, each FFT bin by its "
                   "own std (the reference recipe's), or global, every bin by one std")
    p.add_argument("--epochs", type=int, nargs=3, metavar=("TEACHER", "STUDENT", "LORA"), help="maximum epochs per stage "
                   "(default 20 60 20; the reference recipe 60 80 40)")
    p.add_argument("--schedule", choices=SCHEDULES, help="learning rate over the epochs of every stage: constant or cosine (to 0 "
                   "at the maximum epochs)")
    p.add_argument("--patience", type=int, help="epochs without a better validation score before a stage stops "
                   "(default 8; the reference recipe 12)")
    p.add_argument("--batch", type=int, help="mini-batch size of every stage (default 64)")
    p.add_argument("--lr", type=float, help="Adam learning rate of every stage (default 0.001)")
    p.add_argument("--loss", choices=LOSSES, help="the classification loss of every stage (the CE term of DKD too): ce "
                   "(default), weighted (class costs), focal, or ghl (gradient harmonized, seed 003); the class counts "
                   "of the training windows drive the last three")
    p.add_argument("--features", choices=tuple(FEATURES), help="what a window becomes: fft, the spectrum (default), or "
                   "fft+envelope, half of the input the squared-envelope spectrum (ONNX, bundles, the golden front end and "
                   "the features-in accelerator; no sample-in hardware yet)")
    p.add_argument("--student-channels", type=int, metavar="C", help="the student's convolution channels (default 4: the "
                   "2,830-parameter student; 16 has 11,290 parameters and 4x the MACs)")
    p.add_argument("--lora-objective", choices=("ce", "dkd"), help="what the LoRA stage is fitted to: ce, the labels (default), "
                   "or dkd, the teacher too, as the DKD student is")


def augment_from_args(args: argparse.Namespace):
    """The AugmentSpec the options ask for, or None for the reference recipe."""
    from faultedge.data.augment import AugmentSpec
    from faultedge.errors import DataError

    given = {opt: getattr(args, opt) for opt in AUGMENT_OPTIONS if getattr(args, opt) is not None}
    if args.recipe == "reference" and given:
        raise DataError(f"--{next(iter(given)).replace('_', '-')} applies to --recipe robust only")
    fields = {AUGMENT_OPTIONS[opt]: tuple(v) if opt == "train_snr" else v for opt, v in given.items()}
    return None if args.recipe == "reference" else AugmentSpec(**fields)


def config_from_args(args: argparse.Namespace):
    from faultedge.data.dataset import DataSpec
    from faultedge.data.splits import SplitSpec
    from faultedge.train.pipeline import TrainConfig

    cfg = TrainConfig(
        data=DataSpec(source=args.data, loads=args.loads, snr_db=args.snr, split=SplitSpec(n_train=args.n_train, imbalance=args.imbalance), seed=args.seed),
        seed=args.seed,
        augment=augment_from_args(args),
        lora_rank=args.lora_rank,
    )
    return schedule_from_args(cfg, args)


def schedule_from_args(cfg, args: argparse.Namespace):
    """The config with the recipe's stage lengths and the stages' epochs, schedule, patience, batch size, learning rate and LoRA
    objective the options ask for (shared with benchmarks/robustness.py)."""
    from dataclasses import replace

    from faultedge.train.pipeline import reference_recipe

    if cfg.augment is None:
        cfg = reference_recipe(cfg)  # its own stage lengths, which the options below may still change
    epochs = dict(zip(("teacher", "student", "lora"), args.epochs)) if args.epochs else {}
    stages = {}
    for stage in ("teacher", "student", "lora"):
        fit = getattr(cfg, stage)
        given = {k: v for k, v in (("epochs", epochs.get(stage)), ("schedule", args.schedule), ("patience", args.patience),
                                   ("batch_size", args.batch), ("lr", args.lr)) if v is not None}
        stages[stage] = replace(fit, **given)
    if args.lora_objective:
        stages["lora_objective"] = args.lora_objective
    if args.feature_scale:
        stages["feature_scale"] = args.feature_scale
    if args.loss:
        stages["loss"] = args.loss
    if args.student_channels is not None:
        stages["student_channels"] = args.student_channels
    if args.features:
        stages["features"] = args.features
    return replace(cfg, **stages)


def run(args: argparse.Namespace) -> int:
    from faultedge.families import STUDENT_NAME
    from faultedge.families.cnn1d import ALL_STAGES, TrainSpec
    from faultedge.flow.config import FlowConfig
    from faultedge.flow.runner import run_step
    from faultedge.runs import RunDir

    run_dir = RunDir(args.out)
    if args.network != STUDENT_NAME or args.distill:
        return run_one_stage(args, run_dir)
    stages = tuple(ALL_STAGES if not args.stage or "all" in args.stage else args.stage)
    cfg = None
    if (run_dir / "config.json").exists():
        print(f"continuing {run_dir.path} with its saved config.json (data and hyperparameter options are ignored)")
    else:
        cfg = config_from_args(args)
    run_step(run_dir, FlowConfig(network=STUDENT_NAME, train=TrainSpec(cfg, stages, args.threads), progress=not args.quiet), "train")
    print(f"run directory: {run_dir.path}")
    return 0


def run_one_stage(args: argparse.Namespace, run_dir: RunDir) -> int:
    """The axial-shift MLP, or the CNN student, trained in one stage (dynamic distillation or labels alone)."""
    from faultedge.families import AXIAL_MLP
    from faultedge.flow.config import FlowConfig
    from faultedge.flow.runner import run_step
    from faultedge.runs import read_json
    from faultedge.train.pipeline import TrainConfig
    from faultedge.train.sdd import SDDConfig, SDDSpec

    if args.stage:
        raise RunDirError("--stage applies to the student chain; the one-stage trainer has no stages")
    if args.student_channels is not None:
        raise RunDirError("--student-channels applies to the student chain (teacher -> DKD -> LoRA); the one-stage trainer's "
                          "networks have fixed widths")
    if (run_dir / "config.json").exists():
        print(f"continuing {run_dir.path} with its saved config.json (data and hyperparameter options are ignored)")
        cfg = TrainConfig.from_dict(read_json(run_dir / "config.json"))
    else:
        cfg = config_from_args(args)
    sdd = SDDConfig(student="axmlp" if args.network == "axmlp" else "cnn", distill=args.distill or "dynamic")
    run_step(run_dir, FlowConfig(network=AXIAL_MLP.name, train=SDDSpec(cfg, sdd, args.threads), progress=not args.quiet), "train")
    print(f"run directory: {run_dir.path}")
    return 0
