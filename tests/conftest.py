"""Shared fixtures. The real CWRU files live in ../shared/data/cwru (beside the repository).

Tests never skip: a missing data directory or tool is a failure, locally and in CI.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

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
