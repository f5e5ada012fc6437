"""`faultedge demo`: the whole chain on the embedded synthetic data, no downloads, no data directory."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="run the main job end to end on the embedded synthetic bearing data (or the MKW-Net path on robot data)",
        description="Generate physics-based synthetic bearing vibration (10 CWRU classes), train teacher, "
        "DKD student, LoRA and merged student, quantise it to 8 bits, export ONNX, generate the accelerator's Verilog, "
        "simulate it bit-exactly against the golden model, build an ECP5 bitstream and print the latency table "
        "(PyTorch, ONNX Runtime, the accelerator at its post-route clock). "
        "With --model mkw: synthetic six-axis robot currents -> wavelet images -> a distilled set (trajectory "
        "matching) -> MKW-Net trained on it, next to a random real subset of the same size.",
    )
    p.add_argument("--model", choices=("student", "mkw"), default="student", help="which path to demonstrate (default student)")
    p.add_argument("--out", default="runs/demo", help="run directory (default runs/demo; replaced if it exists)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def demo_config(seed: int):
    """A shorter schedule than the benchmark's, so the demo finishes in a few minutes on 2 cores."""
    from dataclasses import replace

    from faultedge.data.dataset import DataSpec
    from faultedge.train.pipeline import TrainConfig

    cfg = TrainConfig(data=DataSpec(source="synthetic", seed=seed), seed=seed)
    return replace(
        cfg,
        teacher=replace(cfg.teacher, epochs=15, patience=5),
        student=replace(cfg.student, epochs=25, patience=8),
        lora=replace(cfg.lora, epochs=10, patience=5),
    )


def run(args: argparse.Namespace) -> int:
    import shutil

    from faultedge.commands.demo_chain import Steps, hardware_chain
    from faultedge.commands.train import print_summary
    from faultedge.runs import RunDir
    from faultedge.train.pipeline import run_stages

    run_dir = RunDir(args.out)
    if run_dir.path.exists():
        shutil.rmtree(run_dir.path)
    if args.model == "mkw":
        from faultedge.commands.mkw_demo import run_mkw_demo

        return run_mkw_demo(run_dir, args.seed, progress=not args.quiet)
    steps = Steps(7)
    with steps("training on synthetic data: teacher -> DKD student -> LoRA -> merged student", f"faultedge train --out {run_dir.path}"):
        metrics = run_stages(run_dir, demo_config(args.seed), progress=not args.quiet)
        print_summary({k if k != "merge" else "merged": v for k, v in metrics.items()})
    hardware_chain(run_dir, steps, progress=not args.quiet)
    print(f"demo finished in {steps.elapsed:.0f} s; run directory: {run_dir.path}")
    return 0
