"""`faultedge sim`: bit-exact cocotb + Verilator verification of the generated accelerator."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sim",
        help="simulate the accelerator (Verilator + cocotb) against the golden model, bit for bit",
        description="Stream the run's golden vectors through the Verilog written by `faultedge hdl`, then random inputs, "
        "saturating extremes and a mix under random valid/ready back-pressure, and compare every logit and class with "
        "the golden model. Measures cycles per inference and both latencies and checks them against the cycle model. "
        "Writes sim/report.json; exits 1 on any mismatch.",
    )
    p.add_argument("run", help="run directory with hdl/report.json (from `faultedge hdl`) and golden vectors")
    p.add_argument("--limit", type=int, default=None, help="simulate only the first N golden vectors (default all)")
    p.add_argument("--random", type=int, help="random input vectors (default 32; 2 for MKW-Net, ~400 k cycles an image)")
    p.add_argument("--backpressure", type=int, help="vectors streamed under random back-pressure (default 32; 2 for MKW-Net)")
    p.add_argument("--clock-mhz", type=float, default=100.0, help="clock for the latency and throughput figures (default 100)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from faultedge.sim.report import REPORT, simulate_run

    report = simulate_run(args.run, limit=args.limit, n_random=args.random, n_backpressure=args.backpressure,
                          clock_mhz=args.clock_mhz, seed=args.seed, progress=not args.quiet)
    mm, cyc, lat = report["mismatches"], report["cycles"], report["latency"]
    print(f"{report['vectors']['total']:,} inferences ({report['vectors']['vectors']:,} golden vectors): "
          f"{mm['samples']} mismatched samples, {mm['logits']} mismatched logits")
    print(f"cycles per inference: measured {cyc['measured']['per_inference_min']:,}, model {cyc['model']['per_inference']:,} "
          f"({'equal' if cyc['match'] else 'DIFFERENT'}); latency {cyc['measured']['latency_first']:,} cycles from the first "
          f"input beat ({lat['first_beat_to_result_us']:.2f} us at {lat['clock_mhz']:g} MHz), {cyc['measured']['latency_last']:,} from the last")
    print(f"wrote {REPORT} in {args.run}")
    return 0 if report["bit_exact"] and cyc["match"] else 1
