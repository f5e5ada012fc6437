"""Loader for the original CWRU bearing .mat files (12 kHz, drive end).

Labels come from a MANIFEST.tsv beside the files when there is one (its sha256 column is
checked), otherwise from the CWRU record id found in the variable name `X<id>_DE_time`.
"""

from __future__ import annotations

import csv
import hashlib
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import scipy.io

from faultedge.data.classes import class_index
from faultedge.data.recording import Recording
from faultedge.errors import DataError

FS_HZ = 12_000.0
_DE_VAR = re.compile(r"^X(\d+)_DE_time$")

# CWRU 12 kHz drive-end record ids: (fault type, diameter) -> ids for loads 0, 1, 2, 3 hp.
_IDS: dict[tuple[str, float], tuple[int, int, int, int]] = {
    ("normal", 0.0): (97, 98, 99, 100),
    ("inner_race", 0.007): (105, 106, 107, 108),
    ("ball", 0.007): (118, 119, 120, 121),
    ("outer_race_@6", 0.007): (130, 131, 132, 133),
    ("inner_race", 0.014): (169, 170, 171, 172),
    ("ball", 0.014): (185, 186, 187, 188),
    ("outer_race_@6", 0.014): (197, 198, 199, 200),
    ("inner_race", 0.021): (209, 210, 211, 212),
    ("ball", 0.021): (222, 223, 224, 225),
    ("outer_race_@6", 0.021): (234, 235, 236, 237),
}
# Nominal motor speed per load (CWRU's published table); the files' own RPM variable wins when present.
NOMINAL_RPM = (1797.0, 1772.0, 1750.0, 1730.0)
ID_TABLE: dict[int, tuple[str, float, int]] = {
    rid: (fault, size, load) for (fault, size), ids in _IDS.items() for load, rid in enumerate(ids)
}


@dataclass(frozen=True)
class FileEntry:
    """What we know about one .mat file before reading it."""

    path: Path
    fault_type: str
    size_inch: float
    load_hp: int
    rpm: float | None = None
    sha256: str | None = None
    de_variable: str | None = None


def read_mat(path: Path) -> dict[str, np.ndarray]:
    """Read a MAT-file's variables, turning every failure into a DataError naming the file."""
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        data = scipy.io.loadmat(path)
    except NotImplementedError:
        raise DataError(f"{path}: MATLAB v7.3 (HDF5) files are not supported; re-save with save(..., '-v7')") from None
    except Exception as exc:  # scipy raises ValueError, TypeError, OSError... for damaged files
        raise DataError(f"{path}: not a readable MATLAB .mat file ({exc.__class__.__name__}: {exc})") from None
    return {k: v for k, v in data.items() if not k.startswith("__")}


def drive_end_signal(path: Path, variables: dict[str, np.ndarray], expected: str | None = None) -> tuple[str, np.ndarray]:
    """Find the drive-end variable `X<id>_DE_time` and return its name and samples as float64."""
    names = sorted(k for k in variables if _DE_VAR.match(k))
    if expected is not None:
        if expected not in variables:
            raise DataError(f"{path}: no variable {expected!r} (the manifest names it); variables: {sorted(variables)}")
        name = expected
    elif len(names) == 1:
        name = names[0]
    elif not names:
        raise DataError(f"{path}: no drive-end variable X<id>_DE_time; variables: {sorted(variables)}")
    else:
        # Some CWRU files carry a second record's channels; the file name's id decides.
        stem_id = re.match(r"\d+", path.stem)
        matches = [n for n in names if stem_id and int(_DE_VAR.match(n).group(1)) == int(stem_id.group())]
        if len(matches) != 1:
            raise DataError(f"{path}: several drive-end variables {names} and the file name does not say which")
        name = matches[0]
    raw = variables[name]
    if not np.issubdtype(raw.dtype, np.number) or raw.size == 0 or (raw.ndim == 2 and min(raw.shape) != 1) or raw.ndim > 2:
        raise DataError(f"{path}: {name} is not a 1-D numeric signal (dtype {raw.dtype}, shape {raw.shape})")
    return name, np.asarray(raw, dtype=np.float64).reshape(-1)


def _rpm_from(variables: dict[str, np.ndarray]) -> float | None:
    for k, v in variables.items():
        if k.endswith("RPM") and np.size(v) == 1 and np.issubdtype(np.asarray(v).dtype, np.number):
            return float(np.asarray(v).reshape(-1)[0])
    return None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_manifest(path: Path) -> list[FileEntry]:
    """Parse a MANIFEST.tsv (columns file, load_hp, fault_type, fault_size_inch; rpm, sha256, de_variable optional)."""
    required = {"file", "load_hp", "fault_type", "fault_size_inch"}
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f, delimiter="\t")
        missing = required - set(reader.fieldnames or ())
        if missing:
            raise DataError(f"{path}: manifest lacks column(s) {sorted(missing)}")
        entries = []
        for lineno, row in enumerate(reader, start=2):
            try:
                entries.append(
                    FileEntry(
                        path=path.parent / row["file"],
                        fault_type=row["fault_type"],
                        size_inch=float(row["fault_size_inch"]),
                        load_hp=int(row["load_hp"]),
                        rpm=float(row["rpm"]) if row.get("rpm") else None,
                        sha256=row.get("sha256") or None,
                        de_variable=row.get("de_variable") or None,
                    )
                )
            except (TypeError, ValueError) as exc:
                raise DataError(f"{path}, line {lineno}: malformed row ({exc})") from None
    return entries


def scan_directory(data_dir: Path) -> list[FileEntry]:
    """Label .mat files by the CWRU id in their drive-end variable name (no manifest needed)."""
    entries = []
    for path in sorted(data_dir.glob("*.mat")):
        name, _ = drive_end_signal(path, read_mat(path))
        rid = int(_DE_VAR.match(name).group(1))
        if rid not in ID_TABLE:
            warnings.warn(f"{path}: CWRU record {rid} is outside the 10-class 12 kHz drive-end benchmark; skipped")
            continue
        fault, size, load = ID_TABLE[rid]
        entries.append(FileEntry(path=path, fault_type=fault, size_inch=size, load_hp=load, de_variable=name))
    return entries


def list_files(data_dir: Path | str) -> list[FileEntry]:
    """Every labelled file of a CWRU data directory, from its manifest or from the record ids."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(f"CWRU data directory not found: {data_dir}")
    manifest = data_dir / "MANIFEST.tsv"
    entries = read_manifest(manifest) if manifest.is_file() else scan_directory(data_dir)
    if not entries:
        raise DataError(f"{data_dir}: no CWRU .mat files found")
    return entries


def available_loads(data_dir: Path | str) -> list[int]:
    return sorted({e.load_hp for e in list_files(data_dir)})


def load_recordings(data_dir: Path | str, loads: Iterable[int] = (0,)) -> list[Recording]:
    """Read every file of the requested loads, verified and labelled, in class order."""
    loads = tuple(loads)
    entries = [e for e in list_files(data_dir) if e.load_hp in loads]
    if not entries:
        raise DataError(f"{data_dir}: no files for load(s) {list(loads)} hp (present: {available_loads(data_dir)})")
    recordings = []
    for e in entries:
        if e.sha256 is not None and e.path.is_file() and _sha256(e.path) != e.sha256:
            raise DataError(f"{e.path}: sha256 does not match the manifest (corrupt or replaced file)")
        variables = read_mat(e.path)
        _, signal = drive_end_signal(e.path, variables, e.de_variable)
        try:
            label = class_index(e.fault_type, e.size_inch)
        except KeyError as exc:
            raise DataError(f"{e.path}: {exc.args[0]}") from None
        rpm = e.rpm or _rpm_from(variables) or NOMINAL_RPM[min(e.load_hp, 3)]
        recordings.append(Recording(e.path.name, label, e.load_hp, rpm, FS_HZ, signal))
    recordings.sort(key=lambda r: (r.load_hp, r.label))
    for load in loads:
        labels = [r.label for r in recordings if r.load_hp == load]
        if len(labels) != len(set(labels)):
            raise DataError(f"{data_dir}: more than one file for the same class at load {load} hp")
    return recordings
