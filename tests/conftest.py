"""Shared fixtures. The real CWRU files live in ../shared/data/cwru (beside the repository).

Tests never skip: a missing data directory or tool is a failure, locally and in CI.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

# pytest-xdist runs one worker per core; more torch threads per worker only oversubscribe them.
torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
CWRU_DIR = Path(os.environ.get("FAULTEDGE_CWRU_DIR", REPO.parent / "shared" / "data" / "cwru"))


@pytest.fixture(scope="session")
def cwru_dir() -> Path:
    if not (CWRU_DIR / "MANIFEST.tsv").is_file():
        pytest.fail(f"real CWRU data not found at {CWRU_DIR} (set FAULTEDGE_CWRU_DIR)")
    return CWRU_DIR


@pytest.fixture(scope="session")
def cwru_0hp(cwru_dir):
    from faultedge.data.cwru import load_recordings

    return load_recordings(cwru_dir, loads=(0,))


@pytest.fixture(scope="session")
def real_features(cwru_0hp):
    """Noisy (-6 dB) real CWRU test-part windows and their standardised features."""
    from faultedge.data.features import Preprocessing
    from faultedge.data.noise import add_awgn
    from faultedge.data.splits import SplitSpec, make_splits

    splits = make_splits(cwru_0hp, SplitSpec(n_train=60, n_val=20, n_test=40), seed=0)
    rng = np.random.default_rng(0)
    prep = Preprocessing.fit(add_awgn(splits.train.x, -6.0, rng))
    return prep, prep(add_awgn(splits.test.x, -6.0, rng)), splits.test.y


@pytest.fixture(scope="session")
def cwru_run(cwru_dir, tmp_path_factory):
    """A short but real training run on the 0 hp CWRU files (teacher, student, LoRA, merged)."""
    from faultedge.data.dataset import DataSpec
    from faultedge.data.splits import SplitSpec
    from faultedge.runs import RunDir
    from faultedge.train.loop import FitConfig
    from faultedge.train.pipeline import TrainConfig, run_stages

    cfg = TrainConfig(
        data=DataSpec(source=str(cwru_dir), split=SplitSpec(n_train=150, n_val=50, n_test=100)),
        teacher=FitConfig(epochs=12, patience=4),
        student=FitConfig(epochs=20, patience=6),
        lora=FitConfig(epochs=6, patience=3),
    )
    run = RunDir(tmp_path_factory.mktemp("runs") / "cwru")
    return run, run_stages(run, cfg, progress=False)


@pytest.fixture(scope="session")
def axmlp_run(cwru_dir, tmp_path_factory):
    """A short but real axial-shift MLP run (seed 004's student, labels only) on the 0 hp CWRU files."""
    from faultedge.data.dataset import DataSpec
    from faultedge.data.splits import SplitSpec
    from faultedge.runs import RunDir
    from faultedge.train.loop import FitConfig
    from faultedge.train.pipeline import TrainConfig
    from faultedge.train.sdd import SDDConfig, SDDSpec, train_sdd

    cfg = TrainConfig(data=DataSpec(source=str(cwru_dir), split=SplitSpec(n_train=150, n_val=50, n_test=100)), student=FitConfig(epochs=8, patience=8))
    run = RunDir(tmp_path_factory.mktemp("axmlp") / "run")
    train_sdd(run, SDDSpec(cfg, SDDConfig(distill="none")), progress=False)
    return run


@pytest.fixture(scope="session")
def edge_run(cwru_run, tmp_path_factory):
    """A copy of cwru_run, quantised (8-bit student) and exported to ONNX; a copy, so other tests
    re-quantising cwru_run cannot change the models under the edge tests."""
    import shutil

    from faultedge.edge.onnx_export import export
    from faultedge.quant.qat import QATConfig
    from faultedge.families import family
    from faultedge.quant.stage import quantize
    from faultedge.runs import RunDir

    run = RunDir(tmp_path_factory.mktemp("edge") / "run")
    shutil.copytree(cwru_run[0].path, run.path)
    quantize(run, family("student"), QATConfig(epochs=1), progress=False)
    return run, export(run)
