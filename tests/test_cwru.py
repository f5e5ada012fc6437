"""The CWRU loader on the real .mat files, and its errors on bad input."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import scipy.io

from faultedge.data.classes import CLASS_NAMES, NUM_CLASSES
from faultedge.data.cwru import available_loads, list_files, load_recordings
from faultedge.errors import DataError


def test_zero_hp_has_all_ten_classes_in_order(cwru_0hp):
    assert [r.label for r in cwru_0hp] == list(range(NUM_CLASSES))
    assert all(r.fs_hz == 12_000 and r.load_hp == 0 for r in cwru_0hp)
    normal = cwru_0hp[0]
    assert normal.name == "97_Normal_0.mat" and normal.signal.size == 243_938
    assert 1790 < normal.rpm < 1800


def test_one_hp_has_the_nine_fault_classes(cwru_dir):
    recs = load_recordings(cwru_dir, loads=(1,))
    assert [CLASS_NAMES[r.label] for r in recs] == list(CLASS_NAMES[1:])
    assert available_loads(cwru_dir) == [0, 1]


def test_labels_from_record_ids_match_the_manifest(cwru_dir, tmp_path):
    """Without a manifest, the id in X<id>_DE_time decides the class and the load."""
    for name in ("105_0.mat", "119_1.mat", "234_0.mat", "97_Normal_0.mat"):
        (tmp_path / name).symlink_to(cwru_dir / name)
    by_id = {e.path.name: e for e in list_files(tmp_path)}
    by_manifest = {e.path.name: e for e in list_files(cwru_dir)}
    for name, e in by_id.items():
        m = by_manifest[name]
        assert (e.fault_type, e.size_inch, e.load_hp) == (m.fault_type, m.size_inch, m.load_hp)
    recs = load_recordings(tmp_path, loads=(0,))
    assert [CLASS_NAMES[r.label] for r in recs] == ["normal", "IR007", "OR021@6"]


def test_missing_directory(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_recordings(tmp_path / "nope")


def test_empty_directory(tmp_path):
    with pytest.raises(DataError, match="no CWRU .mat files"):
        load_recordings(tmp_path)


def test_missing_load(cwru_dir):
    with pytest.raises(DataError, match=r"no files for load\(s\) \[3\] hp \(present: \[0, 1\]\)"):
        load_recordings(cwru_dir, loads=(3,))


def test_corrupt_mat_file_is_named(tmp_path):
    (tmp_path / "105_0.mat").write_bytes(b"MATLAB 5.0 MAT-file" + b"\x00garbage" * 20)
    with pytest.raises(DataError, match=r"105_0\.mat: not a readable MATLAB \.mat file"):
        load_recordings(tmp_path)


def test_non_mat_file(tmp_path):
    (tmp_path / "notes.mat").write_text("these are not samples\n")
    with pytest.raises(DataError, match=r"notes\.mat: not a readable MATLAB"):
        load_recordings(tmp_path)


def test_file_without_drive_end_variable(tmp_path):
    scipy.io.savemat(tmp_path / "105_0.mat", {"X105_FE_time": np.zeros((5000, 1))})
    with pytest.raises(DataError, match=r"105_0\.mat: no drive-end variable X<id>_DE_time; variables: \['X105_FE_time'\]"):
        load_recordings(tmp_path)


def test_nan_and_inf_samples_are_reported_with_position(tmp_path):
    sig = np.random.default_rng(0).standard_normal((30_000, 1))
    sig[1234, 0] = np.nan
    sig[2000, 0] = np.inf
    scipy.io.savemat(tmp_path / "105_0.mat", {"X105_DE_time": sig})
    with pytest.raises(DataError, match=r"105_0\.mat: 2 non-finite \(NaN/Inf\) sample\(s\), first at index 1234"):
        load_recordings(tmp_path)


def test_manifest_checksum_mismatch_is_detected(cwru_dir, tmp_path):
    shutil.copy(cwru_dir / "MANIFEST.tsv", tmp_path / "MANIFEST.tsv")
    lines = (tmp_path / "MANIFEST.tsv").read_text().splitlines()
    (tmp_path / "MANIFEST.tsv").write_text("\n".join([lines[0]] + [l for l in lines[1:] if l.startswith("105_0.mat")]) + "\n")
    data = scipy.io.loadmat(cwru_dir / "105_0.mat")
    data["X105_DE_time"][10, 0] += 1.0  # one altered sample
    scipy.io.savemat(tmp_path / "105_0.mat", {k: v for k, v in data.items() if not k.startswith("__")})
    with pytest.raises(DataError, match="sha256 does not match the manifest"):
        load_recordings(tmp_path)


def test_too_short_record_names_the_file(tmp_path):
    from faultedge.data.splits import SplitSpec, make_splits

    scipy.io.savemat(tmp_path / "105_0.mat", {"X105_DE_time": np.random.default_rng(0).standard_normal((9_000, 1))})
    recs = load_recordings(tmp_path)
    with pytest.raises(DataError, match=r"105_0\.mat: record too short for 750 windows"):
        make_splits(recs, SplitSpec(), seed=0)
