"""The MKW-Net demo (`faultedge demo --model mkw`): robot currents -> distilled images -> MKW-Net, in a few minutes."""

from __future__ import annotations

import time

from faultedge.runs import RunDir


def demo_config(seed: int):
    """Fewer windows, experts and iterations than the benchmark, so the demo fits in a few minutes on 2 cores."""
    from faultedge.data.images import ROBOT, ImageDataSpec
    from faultedge.train.dataset_distill import DistillConfig
    from faultedge.train.dd_pipeline import DDConfig

    data = ImageDataSpec.for_source(ROBOT, seed=seed, n_train=100, n_val=30, n_test=100)
    distill = DistillConfig(images_per_class=10, n_experts=2, expert_train_epochs=8, max_start_epoch=5, iterations=60, batch_syn=35)
    return DDConfig(data=data, distill=distill, seed=seed)


def run_mkw_demo(run_dir: RunDir, seed: int, progress: bool = True) -> int:
    from faultedge.commands.train_mkw import print_entries
    from faultedge.train.dd_pipeline import distill_run, train_runs

    t0 = time.perf_counter()
    print("[1/2] synthetic robot currents -> CWT images -> experts -> 10 distilled images per class")
    entry = distill_run(run_dir, demo_config(seed), progress)
    print(f"      distilled in {entry['seconds_experts'] + entry['seconds_distill']:.0f} s; matching loss {entry['loss_first_10']:.3f} -> {entry['loss_last_10']:.3f}")
    print("[2/2] MKW-Net on the distilled set and on a random real subset of the same size; scored on real test images")
    print_entries(train_runs(run_dir, [("mkw", "distilled"), ("mkw", "random")], seed, progress, epochs=60))
    print(f"demo finished in {time.perf_counter() - t0:.0f} s; run directory: {run_dir.path} (distilled.png, confusion_*.png)")
    return 0
