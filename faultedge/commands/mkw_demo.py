"""The MKW-Net demo (`faultedge demo --model mkw`): robot currents -> distilled images -> MKW-Net ->
8-bit integer model -> image-engine Verilog, simulated bit-exactly in Verilator."""

from __future__ import annotations

import time

from faultedge.runs import RunDir


HW_LANES, HW_BEAT, HW_IMAGES = 8, 8, 2  # the full-size engine takes ~420 k cycles per image in Verilator


def demo_config(seed: int):
    """Fewer windows, experts and iterations than the benchmark, so the demo fits in a few minutes on 2 cores."""
    from faultedge.data.images import ROBOT, ImageDataSpec
    from faultedge.train.dataset_distill import DistillConfig
    from faultedge.train.dd_pipeline import DDConfig

    data = ImageDataSpec.for_source(ROBOT, seed=seed, n_train=100, n_val=30, n_test=100)
    distill = DistillConfig(images_per_class=10, n_experts=2, expert_train_epochs=8, min_start_epoch=2, max_start_epoch=5, iterations=60)
    return DDConfig(data=data, distill=distill, seed=seed)


def run_mkw_demo(run_dir: RunDir, seed: int, progress: bool = True) -> int:
    from faultedge.commands.train_mkw import print_entries
    from faultedge.hdl.artifacts import write_hdl
    from faultedge.quant.mkw_qat import MKWQATConfig
    from faultedge.quant.mkw_stage import quantize_mkw
    from faultedge.sim.report import simulate_run
    from faultedge.train.dd_pipeline import distill_run, train_runs

    t0 = time.perf_counter()
    print("[1/4] synthetic robot currents -> CWT images -> experts -> 10 distilled images per class")
    entry = distill_run(run_dir, demo_config(seed), progress)
    print(f"      distilled in {entry['seconds_experts'] + entry['seconds_distill']:.0f} s; matching loss {entry['loss_first_10']:.3f} -> {entry['loss_last_10']:.3f}")
    print("[2/4] MKW-Net on the distilled set and on a random real subset of the same size; scored on real test images")
    print_entries(train_runs(run_dir, [("mkw", "distilled"), ("mkw", "random")], seed, progress, epochs=60))
    print("[3/4] MKW-Net (distilled) -> 8-bit fixed point: calibration and QAT on the real training images, integer IR, golden model")
    q = quantize_mkw(run_dir, MKWQATConfig(epochs=2), train_on="distilled", progress=progress)
    print(f"      golden model {q['test']['accuracy']:.2f} % on the real test images (float {q['float_test']['accuracy']:.2f} %); "
          f"{q['golden_vs_qat']['mismatched_logits']} logits differ from the QAT model")
    print(f"[4/4] image engine: {HW_LANES} MAC lanes -> Verilog -> cocotb + Verilator on {HW_IMAGES} test images, random, extreme and back-pressured inputs")
    hw = write_hdl(run_dir, HW_LANES, HW_BEAT, network="mkw")
    sim = simulate_run(run_dir.path, limit=HW_IMAGES, n_random=1, n_backpressure=1, progress=progress)
    cm = hw["cycle_model"]
    print(f"      {sim['vectors']['total']} images simulated: {sim['mismatches']['logits']} mismatched logits; "
          f"{cm['per_inference']:,} cycles per image ({'equal to' if sim['cycles']['match'] else 'DIFFERENT from'} the model), "
          f"{cm['latency_last'] / 100:,.0f} us at 100 MHz")
    print(f"demo finished in {time.perf_counter() - t0:.0f} s; run directory: {run_dir.path} (distilled.png, confusion_*.png, hdl/, sim/report.json)")
    return 0 if sim["bit_exact"] and sim["cycles"]["match"] else 1
