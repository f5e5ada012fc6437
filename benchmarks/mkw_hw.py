"""MKW-Net on the image engine, full size: cycles per lane count, and a bit-exact Verilator run.

Trains MKW-Net on the synthetic robot wavelet images (6 x 32 x 32, all real training windows, as
`faultedge train-mkw --train-on real`), quantises it to 8 bits (as `faultedge quantize --network
mkw`), then for every lane count reports the exact cycle model (per phase), and simulates the
chosen design in cocotb + Verilator on real test images plus random, saturating and
back-pressured inputs, comparing every logit with the golden model. With --fpga BOARD it also
runs the open FPGA flow for the image engine on that board. Writes JSON (rewritten per step).

    nice python benchmarks/mkw_hw.py --sim-lanes 8 --sim-images 8
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from faultedge.data.images import ROBOT, ImageDataSpec, build_image_sets
from faultedge.families.mkw import MKW_NET, image_quant_data
from faultedge.hdl import generate_verilog, plan
from faultedge.hdl.artifacts import generate
from faultedge.hdl.design import DesignPoint
from faultedge.hdl.cycles import model
from faultedge.ir import IRModel, golden
from faultedge.quant.mkw_qat import MKWQATConfig
from faultedge.models.image_nets import MKW
from faultedge.quant.stage import quantize_network
from faultedge.runs import read_json, write_json
from faultedge.sim.verify import verify
from faultedge.ir.provenance import versions
from faultedge.train.dd_pipeline import train_and_score


def trained_ir(windows: list[int], epochs: int, qat_epochs: int, seed: int, out: Path) -> tuple[IRModel, np.ndarray, dict]:
    """The 8-bit MKW-Net IR and the integer robot test images (cached in `out` as IR + npz)."""
    ir_path, x_path = out / "model_mkw.ir.json", out / "test_images.npy"
    if ir_path.exists() and x_path.exists():
        return IRModel.load(ir_path), np.load(x_path), {"cached": str(ir_path)}
    spec = ImageDataSpec.for_source(ROBOT, seed=seed, n_train=windows[0], n_val=windows[1], n_test=windows[2])
    sets = build_image_sets(spec, progress=True)
    net, entry = train_and_score(MKW, "real", sets, None, seed, progress=True, epochs=epochs)
    q = quantize_network(MKW_NET, net, image_quant_data(sets, seed), MKWQATConfig(epochs=qat_epochs), progress=True)
    x = golden.quantize_input(q.ir, sets.test[0])
    res = golden.run(q.ir, x)
    out.mkdir(parents=True, exist_ok=True)
    q.ir.save(ir_path)
    np.save(x_path, x)
    acc = float((res.classes == sets.test[1]).mean() * 100)
    return q.ir, x, {"float_accuracy": entry["test"]["accuracy"], "golden_8bit_accuracy": acc, "golden_vs_brevitas": q.check}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--windows", type=int, nargs=3, default=[150, 50, 100], metavar=("TRAIN", "VAL", "TEST"), help="robot windows per class")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--qat-epochs", type=int, default=3)
    ap.add_argument("--lanes", type=int, nargs="+", default=[1, 2, 4, 8], help="lane counts for the cycle model")
    ap.add_argument("--sim-lanes", type=int, default=8, help="lane count simulated in Verilator")
    ap.add_argument("--beat", type=int, default=8)
    ap.add_argument("--sim-images", type=int, default=8, help="real test images simulated (one per class first; 0: no simulation)")
    ap.add_argument("--fpga", help="also build the image engine for this FPGA board (e.g. ulx3s-85f)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--work", default="runs/mkw_hw", help="where the trained IR and test images are kept")
    ap.add_argument("--out", default="benchmarks/results/mkw_hw.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    out = Path(args.out)
    result: dict = read_json(out) if out.exists() else {}  # steps not rerun keep their earlier results
    result.update({"seed": args.seed, "beat": args.beat, "versions": versions()})
    ir, x, info = trained_ir(args.windows, args.epochs, args.qat_epochs, args.seed, Path(args.work))
    result["model"] = {**result.get("model", {}), **info}
    result["macs"] = ir.macs
    result["cycles"] = {}
    for lanes in args.lanes:
        p = plan(ir, lanes, args.beat, MKW_NET.engine)
        cm = model(p)
        result["cycles"][lanes] = {"per_inference": cm.per_inference, "latency_last": cm.latency_last, "bound": cm.bound,
                                   "phases": dict(p.cycle_phases()), "memory_bits": p.memory_bits(),
                                   "latency_us_at_100mhz": cm.latency_first / 100}
        print(f"{lanes} lanes: {cm.per_inference:,} cycles per image (MAC bound {cm.bound:,}), {cm.latency_first / 100:,.0f} us at 100 MHz")
    write_json(args.out, result)

    if args.sim_images:
        simulate(ir, x, args, result)
    if args.fpga:
        from faultedge.fpga.board import load_fpga_board
        from faultedge.fpga.build import BuildOptions, implement

        verilog, hdl_report = generate(ir, DesignPoint(MKW_NET.name, ir.input.bits, MKW_NET.engine, args.sim_lanes, args.beat, args.fpga))
        fp = implement(verilog, hdl_report, load_fpga_board(args.fpga), BuildOptions(), Path(args.work) / f"fpga_{args.fpga}")
        result["fpga"] = {k: fp.get(k) for k in ("board", "fit", "resources", "fmax_mhz", "clock_mhz", "timing_met", "latency_us", "throughput_per_s", "bitstream")}
        write_json(args.out, result)
        print(f"{args.fpga}: {fp['fit']['message']}; Fmax {fp.get('fmax_mhz')} MHz; latency {fp.get('latency_us')} us")
    print(f"wrote {args.out}")


def simulate(ir: IRModel, x: np.ndarray, args: argparse.Namespace, result: dict) -> None:
    """Verilator run of the --sim-lanes design on real test images (one per predicted class first)."""
    labels = golden.run(ir, x).classes
    _, first = np.unique(labels, return_index=True)  # one image per predicted class first, then the rest in order
    order = list(first) + [i for i in range(len(x)) if i not in set(first)]
    pick = x[np.array(order[: args.sim_images])]
    t0 = time.perf_counter()
    verilog = generate_verilog(ir, args.sim_lanes, args.beat, MKW_NET.engine)
    rep = verify(ir, verilog, args.sim_lanes, args.beat, pick, n_random=2, n_backpressure=3, seed=args.seed, progress=True, engine=MKW_NET.engine)
    result["simulation"] = {k: rep[k] for k in ("lanes", "beat", "vectors", "mismatches", "bit_exact", "cycles", "build", "simulate_seconds")}
    result["simulation"]["verilog_bytes"] = len(verilog)
    result["simulation"]["wall_seconds"] = round(time.perf_counter() - t0, 1)
    write_json(args.out, result)
    print(f"simulated {rep['vectors']['total']} images at {args.sim_lanes} lanes: {rep['mismatches']['logits']} mismatched logits, "
          f"cycles {'equal the model' if rep['cycles']['match'] else 'DIFFER from the model'}")


if __name__ == "__main__":
    main()
