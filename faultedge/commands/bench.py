"""`faultedge bench`: latency (p50/p90/p99) and throughput of PyTorch eager vs ONNX Runtime fp32/int8."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench",
        help="latency and throughput: PyTorch eager, ORT fp32, ORT int8 (and an FPGA build if present)",
        description="Time every inference path of a run in one process: PyTorch eager fp32, ONNX Runtime fp32 and "
        "int8 QDQ (numpy FFT front end, and FFT in the graph), end to end from a raw window and model only from "
        "features; batch 1 p50/p90/p99 after warm-up on one thread and on all cores, and batch-256 throughput. "
        "Adds a row per runs/NAME/fpga/BOARD/report.json. Writes runs/NAME/bench/report.json. Timings on a "
        "machine shared with other work are noisy: paths are interleaved so they see the same load.",
    )
    p.add_argument("run", help="run directory made by `faultedge train` (and `faultedge quantize` for int8)")
    p.add_argument("--repeats", type=int, default=4000, help="batch-1 calls per path (default 4000)")
    p.add_argument("--threads", type=int, help="the 'all cores' thread count (default: os.cpu_count())")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from faultedge.edge.bench import BenchConfig
    from faultedge.flow.config import FlowConfig
    from faultedge.flow.runner import run_step
    from faultedge.runs import RunDir

    cfg = BenchConfig(repeats=args.repeats)
    if args.threads:
        cfg = replace(cfg, all_threads=args.threads)
    run_step(RunDir(args.run), FlowConfig(bench=cfg), "bench")
    return 0
