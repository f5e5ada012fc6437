"""`faultedge deploy`: a self-contained directory that classifies vibration on one edge board.

A bundle holds one family's ONNX models of the run (fast path and single-file variant, fp32 and
int8 when the run is quantised; the runner finds them by their keys in the manifest, whatever
the family), run.py (faultedge.edge.runner verbatim: numpy + onnxruntime only), the
board's requirements.txt, a README and manifest.json with the sha256 of every other file. It is
built in a temporary directory beside the target and renamed into place, so a failed or
interrupted deploy never leaves a half-written bundle.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from faultedge.boards import load_board
from faultedge.edge import runner, streaming
from faultedge.edge.artifacts import ONNX_DIR, suffix
from faultedge.edge.exported import ensure_exported
from faultedge.errors import FaultedgeError
from faultedge.families import STUDENT, Family
from faultedge.runs import RunDir, read_json

RUNNER = "run.py"
STREAMING = "streaming.py"
PROFILE_FIELDS = {"description": str, "arch": str, "cpu": str, "os": str, "python": str, "providers": list, "threads": int,
                  "precision": str, "requirements": list, "onnxruntime_install": str}


def board_profile(name: str) -> dict[str, Any]:
    """An edge board profile with every field the bundle needs, of the right type."""
    profile = load_board("edge", name)
    for field, kind in PROFILE_FIELDS.items():
        if not isinstance(profile.get(field), kind):
            raise FaultedgeError(f"edge board profile {name}: field {field!r} missing or not a {kind.__name__}")
    if profile["precision"] not in ("fp32", "int8"):
        raise FaultedgeError(f"edge board profile {name}: precision must be fp32 or int8")
    return profile


def readme(profile: dict[str, Any], manifest: dict[str, Any], title: str) -> str:
    labels = ", ".join(manifest["labels"])
    models = "\n".join(f"- `{name}` ({key.replace('_', ', ')} input)" for key, name in manifest["models"].items())
    return f"""# faultedge bundle for {profile['description']}

Classifies bearing vibration windows ({manifest['preprocessing']['window']} samples at
{manifest['preprocessing']['sample_rate_hz']:g} Hz, drive-end acceleration) into: {labels}.
Network: {title}.

Target: {profile['cpu']}; {profile['os']}; Python {profile['python']}.

## Install
{profile['onnxruntime_install']}

## Run
    python run.py recording.npy            # 1-D recording, cut into consecutive windows
    python run.py windows.csv --format json
    cat samples.txt | python run.py -       # numbers on standard input
    python run.py --bench 1000              # latency on this device
    adc_reader | python run.py --stream -  # continuous: a JSON line per hop (window/4) and per alarm change

run.py checks the sha256 of every file listed in manifest.json before it loads anything and
refuses a modified or incomplete bundle (exit code 2). It uses the {profile['precision']} model with
{profile['threads']} thread(s) and the first available of {', '.join(profile['providers'])}
(it prints which); see `python run.py --help` to override.

## Files
{models}
- `*_magnitude.onnx`: numpy computes the FFT magnitude, the graph the normalisation and the
  network (the fast path). `*_window.onnx`: raw window in, FFT (ONNX DFT, opset 17) in the graph,
  for runtimes without numpy (C/C++, Java, mobile); select it here with `--graph-fft`.
- `manifest.json`: checksums, preprocessing spec, labels, quantisation, versions.
"""


def build(run: RunDir, profile: dict[str, Any], root: Path, family: Family) -> dict[str, Any]:
    """Write every bundle file of the family's models into the empty directory `root` and return the manifest."""
    report = ensure_exported(run, family)
    models = {key: name for key, name in report["models"].items() if not key.endswith("_features")}
    for name in models.values():
        shutil.copyfile(run / ONNX_DIR / name, root / name)
    shutil.copyfile(runner.__file__, root / RUNNER)
    shutil.copyfile(streaming.__file__, root / STREAMING)  # run.py --stream loads it from beside itself
    requirements = "\n".join(profile["requirements"]) + "\n"
    (root / "requirements.txt").write_text(f"# {profile['description']}: see README.md for onnxruntime\n{requirements}", encoding="utf-8")
    manifest = {
        "manifest_version": runner.MANIFEST_VERSION,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "run": str(run.path),
        "network": report["network"],
        "board": {k: profile[k] for k in ("name", "description", "arch", "os", "python", "providers", "threads", "precision")},
        "preprocessing": read_json(run / "preprocessing.json"),
        "labels": report["labels"],
        "models": models,
        "quantisation": report["quantisation"],
        "parity": report["parity"],
        "versions": report["versions"],
    }
    (root / "README.md").write_text(readme(profile, manifest, family.title), encoding="utf-8")
    manifest["files"] = {p.name: runner.sha256_file(p) for p in sorted(root.iterdir())}
    (root / runner.MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return manifest


def deploy(run: RunDir, board: str, out: Path, replace: bool = False, family: Family = STUDENT) -> dict[str, Any]:
    """Build the bundle of the family's models for `board` at `out`, atomically: a temporary directory renamed into place."""
    profile = board_profile(board)
    out = Path(out)
    if out.exists() and not replace:
        raise FaultedgeError(f"{out} already exists; pass --force to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        manifest = build(run, profile, tmp, family)
        os.chmod(tmp, 0o755)
        if out.exists():  # replace: move the old bundle aside first, so `out` is never half-written
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
            os.replace(out, old / "bundle")
            os.replace(tmp, out)
            shutil.rmtree(old)
        else:
            os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return manifest


def default_out(run: RunDir, board: str, family: Family = STUDENT) -> Path:
    """RUN/bundle/BOARD, suffixed as the family's exported files are (RUN/bundle/BOARD_axmlp)."""
    return run / "bundle" / f"{board}{suffix(family.name)}"
