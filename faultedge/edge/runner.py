"""Raw vibration windows -> fault class with ONNX Runtime; needs only numpy and onnxruntime.

This one file is both faultedge's fast inference path (faultedge.edge.predictor imports it)
and the runner of every deployment bundle (`faultedge deploy` copies it as run.py), so the
device runs exactly the code that faultedge tests. It must therefore never import faultedge,
and stays Python 3.8 compatible (Jetson Nano: JetPack 4, Ubuntu 18.04).

Fast path (chosen by measurement, see faultedge.edge.bench): numpy computes the FFT
magnitude, ONNX Runtime the normalisation and the network. ORT's own DFT op is several
times slower than numpy's pocketfft on a 2048 window, so the graph-DFT models are for
runtimes without numpy. The feature bins are |X[H]|, |X[H-1]|, ..., |X[1]| (H = window/2);
for a real window these equal |FFT(x * (-1)^n)[k]| for k = 0..H-1, so a sign flip of every
other sample replaces a slow reversed-stride read by a contiguous slice. Specs of version 2
(fft+envelope) average those bins in pairs and follow them with the squared-envelope spectrum,
|FFT(x**2)| bins 1..window/4.

Usage in a bundle:  python run.py recording.npy | python run.py - < windows.csv
"""

from __future__ import annotations

import argparse
import cmath
import dataclasses
import hashlib
import io
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import onnxruntime as ort

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
# Preprocessing specs this runner implements: version -> the transform it names.
SPEC_TRANSFORMS = {1: "abs(fft(window, norm='forward'))[window//2 : 0 : -1]",
                   2: "mean of bin pairs of abs(fft(window, norm='forward'))[window//2 : 0 : -1], then "
                      "abs(fft(window**2 - mean(window**2), norm='forward'))[1 : window//4 + 1]"}
# Model input name -> what the numpy front end feeds it.
FRONTS = ("window", "magnitude", "features")
PROVIDER_ORDER = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")


class RunnerError(Exception):
    """A problem the user can fix (bad input, tampered bundle, missing provider); printed without traceback."""


# --------------------------------------------------------------------------- preprocessing spec


class Spec:
    """The parts of faultedge's preprocessing.json this runner needs, checked on load."""

    def __init__(self, d: Dict[str, Any], source: str = "preprocessing spec") -> None:
        try:
            version, transform = d["version"], d["transform"]
            if version not in SPEC_TRANSFORMS:
                raise RunnerError(f"{source}: preprocessing version {version!r} is not supported by this runner "
                                  f"(supported: {sorted(SPEC_TRANSFORMS)}); re-deploy with a matching faultedge")
            if transform != SPEC_TRANSFORMS[version]:
                raise RunnerError(f"{source}: unknown transform {transform!r} for version {version}")
            self.window = int(d["window"])
            mean = np.asarray(d["mean"], dtype=np.float64)
            std = np.asarray(d["std"], dtype=np.float64)
        except KeyError as exc:
            raise RunnerError(f"{source}: missing field {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            raise RunnerError(f"{source}: malformed field ({exc})") from None
        self.envelope = version == 2
        step = 4 if self.envelope else 2  # the envelope block has window/4 bins
        if self.window < step or self.window % step:
            raise RunnerError(f"{source}: window must be a multiple of {step} samples, got {self.window}")
        self.bins = self.window // 2
        for name, arr in (("mean", mean), ("std", std)):
            if arr.shape != (self.bins,) or not np.all(np.isfinite(arr)):
                raise RunnerError(f"{source}: field {name!r} must be {self.bins} finite numbers")
        if not np.all(std > 0):
            raise RunnerError(f"{source}: field 'std' must be positive")
        self.mean, self.std = mean, std

    @property
    def scale(self) -> np.ndarray:
        """Multiplies the unnormalised |FFT| bins: folds norm='forward' (1/window) and 1/std."""
        return 1.0 / (self.window * self.std)

    @property
    def offset(self) -> np.ndarray:
        """Subtracted after `scale`: mean/std."""
        return self.mean / self.std


def _rfft_kernel() -> Callable[[np.ndarray, np.ndarray], None]:
    """Unnormalised real FFT of each row of a float64 array into a preallocated complex128 array.

    numpy >= 2 exposes pocketfft as a gufunc; calling it directly skips about 2 us of Python
    argument handling per call in np.fft.rfft. It is private, so it is used only when present
    and verified against np.fft.rfft here; otherwise np.fft.rfft is used.
    """

    def public(y: np.ndarray, out: np.ndarray) -> None:
        out[...] = np.fft.rfft(y, axis=-1)

    try:
        from numpy.fft import _pocketfft_umath as pfu  # type: ignore[attr-defined]

        kernel = pfu.rfft_n_even

        def direct(y: np.ndarray, out: np.ndarray) -> None:
            kernel(y, 1.0, out=out)

        probe = np.random.default_rng(0).standard_normal((2, 64))
        got = np.empty((2, 33), np.complex128)
        direct(probe, got)
        if np.array_equal(got, np.fft.rfft(probe, axis=-1)):
            return direct
    except Exception:  # noqa: BLE001 - any failure of the private path means: use the public one
        pass
    return public


_RFFT = _rfft_kernel()


# --------------------------------------------------------------------------- ONNX Runtime session


def choose_providers(preferred: Optional[Sequence[str]] = None) -> List[str]:
    """The preferred providers this onnxruntime build has, in order; CPU is always the last resort."""
    available = ort.get_available_providers()
    wanted = list(preferred) if preferred else list(PROVIDER_ORDER)
    unknown = [p for p in wanted if p not in available]
    chosen = [p for p in wanted if p in available]
    if preferred and unknown and not chosen:
        raise RunnerError(f"none of the requested providers {unknown} is available in this onnxruntime "
                          f"build (available: {available})")
    return chosen if "CPUExecutionProvider" in chosen else chosen + ["CPUExecutionProvider"]


def make_session(model: Any, providers: Optional[Sequence[str]] = None, threads: int = 1) -> ort.InferenceSession:
    """An ORT session tuned for small-batch latency: explicit threads, sequential execution, all graph optimisations except QDQ fusion (see below)."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = int(threads)  # 0 = one per core
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Fused, ORT runs QDQ convolutions as u8 x s8 kernels whose int16 pair sums saturate on x86 when
    # neighbouring weights are large (seen: an all-max window 60 off on a logit); unfused, the QDQ
    # graph equals Brevitas exactly. fp32 graphs have no QDQ nodes, so this changes nothing for them.
    opts.add_session_config_entry("session.disable_quant_qdq", "1")
    opts.log_severity_level = 3  # warnings about unused initialisers are noise for users
    try:
        return ort.InferenceSession(str(model) if isinstance(model, Path) else model, opts, providers=choose_providers(providers))
    except RunnerError:
        raise
    except Exception as exc:  # ORT raises its own exception types for corrupt or foreign files
        raise RunnerError(f"{model if isinstance(model, (str, Path)) else 'model'}: ONNX Runtime cannot load it "
                          f"({exc.__class__.__name__}: {str(exc).splitlines()[0]})") from None


# --------------------------------------------------------------------------- classifier


def check_windows(x: Any, length: int, what: str = "windows") -> np.ndarray:
    """(L,) or (N, L) real numbers -> (N, L) array; anything else is a RunnerError naming the problem."""
    x = np.asarray(x)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[0] == 0:
        raise RunnerError(f"{what}: expected shape (N, {length}), got {x.shape}")
    if x.shape[1] != length:
        raise RunnerError(f"{what}: each window must have {length} samples, got {x.shape[1]}")
    if x.dtype.kind not in "fiu":
        raise RunnerError(f"{what}: samples must be real numbers, got dtype {x.dtype}")
    return x


def nonfinite_error(x: np.ndarray, what: str) -> RunnerError:
    """Name the first NaN/Inf sample; finite input that overflowed (FFT, float32) gets its own message."""
    bad = ~np.isfinite(x)
    if not bad.any():
        return RunnerError(f"{what}: sample values too large to process (they overflow); max |x| = {np.abs(x).max():.3g}")
    n, i = np.unravel_index(int(np.argmax(bad)), bad.shape)
    return RunnerError(f"{what}: {int(bad.sum())} non-finite (NaN/Inf) sample(s), first in window {n} at sample {i}")


class _Buffers:
    """Preallocated arrays and an ORT IO binding for one batch size: no allocation per call."""

    def __init__(self, session: ort.InferenceSession, front: str, spec: Spec, n: int, classes: int) -> None:
        self.signs = np.where(np.arange(spec.window) % 2, -1.0, 1.0)
        self.flipped = np.empty((n, spec.window))
        self.spectrum = np.empty((n, spec.bins + 1), np.complex128)
        self.half = np.empty((n, spec.bins), np.complex64)
        if spec.envelope:  # the spectrum's magnitudes before their pairs are averaged, the squared window and its spectrum
            self.magnitude = np.empty((n, spec.bins), np.float32)
            self.power = np.empty((n, spec.window))
            self.power_spectrum = np.empty((n, spec.bins + 1), np.complex128)
        width = spec.window if front == "window" else spec.bins
        self.input = np.empty((n, width), np.float32)
        self.output = np.empty((n, classes), np.float32)
        self.binding = session.io_binding()
        self.binding.bind_cpu_input(front, self.input)
        self.binding.bind_output(session.get_outputs()[0].name, "cpu", 0, np.float32, [n, classes], self.output.ctypes.data)


class Classifier:
    """One ONNX model and the numpy front end its input asks for.

    Non-finite or overflowing input raises RunnerError; numpy may warn about it first (wrap calls
    in np.errstate to silence that: doing so per call would cost about 1 us of the fast path).

    The model's input name says what it expects: `window` (raw samples; FFT in the graph),
    `magnitude` (unnormalised |FFT| bins in feature order; numpy does the FFT, the graph the
    normalisation: the fast path) or `features` (normalised features: the exported network alone).
    """

    def __init__(self, model: Any, spec: Spec, providers: Optional[Sequence[str]] = None, threads: int = 1) -> None:
        self.spec = spec
        self.session = make_session(model, providers, threads)
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or inputs[0].name not in FRONTS or len(outputs) != 1:
            raise RunnerError(f"{model}: expected one input named one of {FRONTS} and one output, got "
                              f"{[i.name for i in inputs]} -> {[o.name for o in outputs]}")
        self.front = inputs[0].name
        model_width = spec.window if self.front == "window" else spec.bins
        declared, out_shape = inputs[0].shape, outputs[0].shape
        if len(declared) != 2 or declared[1] != model_width or not isinstance(out_shape[-1], int):
            raise RunnerError(f"{model}: input {self.front} has shape {declared}, expected [N, {model_width}]")
        self.width = spec.bins if self.front == "features" else spec.window  # what callers pass in
        self.classes = out_shape[-1]
        self.provider = self.session.get_providers()[0]
        self._buffers: Dict[int, _Buffers] = {}

    def _buffers_for(self, n: int) -> _Buffers:
        buf = self._buffers.get(n)
        if buf is None:
            if len(self._buffers) >= 4:  # a stream of varying batch sizes must not grow memory without bound
                self._buffers.clear()
            buf = self._buffers[n] = _Buffers(self.session, self.front, self.spec, n, self.classes)
        return buf

    def _run(self, x: np.ndarray, what: str) -> np.ndarray:
        """Fill the bound input from validated windows, run, return the bound output (reused between calls)."""
        buf = self._buffers_for(x.shape[0])
        if self.front == "magnitude":
            np.multiply(x, buf.signs, out=buf.flipped)
            _RFFT(buf.flipped, buf.spectrum)
            # Any NaN/Inf sample makes bin 0 (a signed sum of all samples) non-finite: checking it is
            # the NaN/Inf check, at the cost of N values instead of N * window (one value: cmath, 1 us less).
            dc = buf.spectrum[:, 0]
            if not (cmath.isfinite(dc[0]) if len(dc) == 1 else np.isfinite(dc).all()):
                raise nonfinite_error(x, what)
            # complex128 -> complex64, then |.| in float32: 1 us faster than |.| in float64 and a cast
            np.copyto(buf.half, buf.spectrum[:, : self.spec.bins], casting="same_kind")
            if self.spec.envelope:
                self._envelope(x, buf)
            else:
                np.abs(buf.half, out=buf.input)
        else:
            np.copyto(buf.input, x, casting="unsafe")
            if not np.isfinite(buf.input).all():  # NaN/Inf in x, or values beyond float32's range
                raise nonfinite_error(x, what)
        self.session.run_with_iobinding(buf.binding)
        return buf.output

    def _envelope(self, x: np.ndarray, buf: _Buffers) -> None:
        """Version 2's magnitude input: the spectrum's bins averaged in pairs, then the squared window's bins 1..window/4."""
        quarter = self.spec.bins // 2
        np.abs(buf.half, out=buf.magnitude)
        np.add(buf.magnitude[:, 0::2], buf.magnitude[:, 1::2], out=buf.input[:, :quarter])
        buf.input[:, :quarter] *= 0.5
        np.multiply(x, x, out=buf.power)
        _RFFT(buf.power, buf.power_spectrum)
        np.abs(buf.power_spectrum[:, 1 : quarter + 1], out=buf.input[:, quarter:], casting="same_kind")

    def logits(self, windows: Any, what: str = "windows") -> np.ndarray:
        """Logits (N, classes) for raw windows (N, window), or features (N, bins) for a `features` model."""
        return self._run(check_windows(windows, self.width, what), what).copy()

    def classify(self, windows: Any, what: str = "windows") -> np.ndarray:
        """Class indices (N,) for raw windows (or features, for a `features` model)."""
        return self._run(check_windows(windows, self.width, what), what).argmax(axis=1)


def time_calls(fn: Callable[[], Any], repeats: int, warmup: int, budget_s: float = float("inf")) -> np.ndarray:
    """Wall time of each call of fn() in microseconds: `repeats` calls after `warmup` untimed ones,
    fewer if all together take longer than `budget_s` seconds (a thrashing path must not stall a
    benchmark); at least one call is timed."""
    clock = time.perf_counter_ns
    deadline = clock() + budget_s * 1e9
    for _ in range(warmup):
        fn()
        if clock() > deadline:
            break
    samples = np.empty(repeats)
    for i in range(repeats):
        t0 = clock()
        fn()
        samples[i] = t1 = clock() - t0
        if t0 + t1 > deadline:
            return samples[: i + 1] / 1000.0
    return samples / 1000.0


def percentiles(samples_us: np.ndarray) -> Dict[str, float]:
    p50, p90, p99 = np.percentile(samples_us, [50, 90, 99])
    return {"p50": float(p50), "p90": float(p90), "p99": float(p99), "repeats": int(len(samples_us))}


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


# --------------------------------------------------------------------------- recordings and results


def split_windows(signal: np.ndarray, window: int, hop: int, what: str = "recording") -> Tuple[np.ndarray, np.ndarray, int]:
    """Consecutive windows of a 1-D recording: (windows (N, window), start samples, ignored tail samples).

    A tail shorter than one window is not classified (it cannot be, without inventing samples);
    the number of ignored samples is reported with the results.
    """
    signal = np.asarray(signal).reshape(-1)
    if hop < 1:
        raise RunnerError(f"hop must be at least 1 sample, got {hop}")
    if signal.size < window:
        raise RunnerError(f"{what}: {signal.size} samples is shorter than one window ({window} samples)")
    starts = np.arange(0, signal.size - window + 1, hop)
    return signal[starts[:, None] + np.arange(window)], starts, int(signal.size - (starts[-1] + window))


def windows_from_array(data: np.ndarray, window: int, hop: int, what: str) -> Tuple[np.ndarray, np.ndarray, int]:
    """A 1-D array (or one column/row) is a recording; an (N, window) array is N windows."""
    data = np.asarray(data)
    if data.ndim == 2 and data.shape[1] == window and data.shape[0] > 1:
        return data, np.arange(data.shape[0]) * window, 0
    if data.ndim == 2 and 1 in data.shape:
        data = data.reshape(-1)
    if data.ndim != 1:
        raise RunnerError(f"{what}: expected a 1-D recording or rows of {window} samples, got shape {data.shape}")
    if data.dtype.kind not in "fiu":
        raise RunnerError(f"{what}: samples must be real numbers, got dtype {data.dtype}")
    return split_windows(data, window, hop, what)


def read_text_numbers(text: str, what: str) -> np.ndarray:
    """Numbers separated by commas, whitespace or newlines; rows must have equal length."""
    rows = [line.replace(",", " ").split() for line in text.splitlines()]
    rows = [r for r in rows if r and not r[0].startswith("#")]
    if not rows:
        raise RunnerError(f"{what}: no numbers found")
    widths = {len(r) for r in rows}
    if len(widths) != 1:
        raise RunnerError(f"{what}: rows have different numbers of values ({sorted(widths)[:5]})")
    try:
        return np.array(rows, dtype=np.float64)
    except ValueError as exc:
        raise RunnerError(f"{what}: not a table of numbers ({exc})") from None


def read_input(name: str, stdin: Optional[io.TextIOBase] = None) -> np.ndarray:
    """A .npy file, a text/.csv file, or '-' for text on standard input."""
    if name == "-":
        return read_text_numbers((stdin or sys.stdin).read(), "standard input")
    path = Path(name)
    if not path.is_file():
        raise RunnerError(f"{path}: file not found")
    if path.suffix.lower() == ".npy":
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise RunnerError(f"{path}: not a readable .npy array ({exc})") from None
    try:
        return read_text_numbers(path.read_text(encoding="utf-8"), str(path))
    except UnicodeDecodeError:
        raise RunnerError(f"{path}: not a text file of numbers (use .npy for binary arrays)") from None


def results(logits: np.ndarray, starts: np.ndarray, labels: Sequence[str], ignored: int, info: Dict[str, Any]) -> Dict[str, Any]:
    """Per-window classes with softmax scores, and the majority class of the recording."""
    probs = softmax(logits)
    classes = probs.argmax(axis=1)
    counts = np.bincount(classes, minlength=len(labels))
    majority = int(counts.argmax())
    return {
        **info,
        "windows": int(len(classes)),
        "ignored_tail_samples": ignored,
        "majority": {"class": majority, "label": labels[majority], "windows": int(counts[majority])},
        "predictions": [
            {"window": i, "start": int(s), "class": int(c), "label": labels[int(c)], "score": round(float(probs[i, c]), 4)}
            for i, (s, c) in enumerate(zip(starts, classes))
        ],
    }


def format_text(res: Dict[str, Any]) -> str:
    lines = [f"{'window':>6}  {'start':>9}  {'class':<8}  score"]
    lines += [f"{p['window']:>6}  {p['start']:>9}  {p['label']:<8}  {p['score']:.3f}" for p in res["predictions"]]
    m = res["majority"]
    lines.append(f"{res['windows']} window(s): majority {m['label']} ({m['windows']}/{res['windows']}); "
                 f"{res['ignored_tail_samples']} tail sample(s) shorter than a window ignored; "
                 f"{res['precision']} model on {res['provider']}")
    return "\n".join(lines)


def format_csv(res: Dict[str, Any]) -> str:
    rows = ["window,start,class,label,score"] + [f"{p['window']},{p['start']},{p['class']},{p['label']},{p['score']}" for p in res["predictions"]]
    return "\n".join(rows)


# --------------------------------------------------------------------------- bundles


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_bundle(root: Path) -> Dict[str, Any]:
    """Read manifest.json and check the sha256 of every file it lists, before anything is loaded.

    This detects corruption and accidental edits (integrity); it is not a signature: whoever can
    rewrite the files can rewrite the manifest too.
    """
    path = root / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunnerError(f"{path}: missing; this directory is not a faultedge bundle") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise RunnerError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("manifest_version") != MANIFEST_VERSION or not isinstance(manifest.get("files"), dict):
        raise RunnerError(f"{path}: not a version {MANIFEST_VERSION} faultedge bundle manifest")
    problems = []
    for name, digest in sorted(manifest["files"].items()):
        f = root / name
        if Path(name).is_absolute() or ".." in Path(name).parts:
            problems.append(f"{name}: path outside the bundle")
        elif not f.is_file():
            problems.append(f"{name}: missing")
        elif sha256_file(f) != digest:
            problems.append(f"{name}: sha256 mismatch (modified or corrupt)")
    if problems:
        raise RunnerError(f"bundle {root} failed its integrity check, nothing was loaded:\n  " + "\n  ".join(problems))
    return manifest


def bundle_classifier(root: Path, manifest: Dict[str, Any], precision: Optional[str], graph_fft: bool,
                      providers: Optional[Sequence[str]], threads: Optional[int]) -> Tuple[Classifier, str]:
    """The Classifier a verified bundle asks for, with the board's defaults unless overridden."""
    board = manifest.get("board", {})
    precision = precision or board.get("precision", "fp32")
    models = manifest.get("models", {})
    key = f"{precision}_{'window' if graph_fft else 'magnitude'}"
    if key not in models:
        raise RunnerError(f"bundle has no {key} model (has: {sorted(models)})")
    spec = Spec(manifest["preprocessing"], f"{MANIFEST}: preprocessing")
    threads = board.get("threads", 1) if threads is None else threads
    return Classifier(root / models[key], spec, providers or board.get("providers"), threads), precision


def streaming_module() -> Any:
    """faultedge.edge.streaming, loaded by path: it sits beside this file both in the package and in a
    bundle (as streaming.py), and this runner may not import faultedge."""
    import importlib.util

    path = Path(__file__).resolve().with_name("streaming.py")
    spec = importlib.util.spec_from_file_location("faultedge_bundle_streaming", path)
    if spec is None or spec.loader is None or not path.is_file():
        raise RunnerError(f"{path}: missing; --stream needs streaming.py beside run.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def stream_lines(clf: "Classifier", labels: Sequence[str], lines: Any, hop: int, settings: Any, channel: str = "stdin",
                 out: Any = sys.stdout, err: Any = sys.stderr) -> Dict[str, Any]:
    """Continuous diagnosis of text sample lines (numbers separated by spaces or commas): one JSON line per
    hop and per alarm change, the same decisions as `faultedge monitor`. A malformed line is counted and
    skipped with a warning. Returns the summary."""
    st = streaming_module()
    windower = st.Windower(clf.spec.window, hop)
    tracker = st.AlarmTracker(channel, labels, "normal", settings)
    malformed = alarms = 0
    for number, line in enumerate(lines, 1):
        values = st.parse_samples(line)
        if values is not None and not len(values):
            continue
        if values is None:
            malformed += 1
            print(f"warning: line {number} is not a list of numbers, skipped: {line.strip()[:60]!r}", file=err)
            continue
        ready = windower.push(values)
        if not ready:
            continue
        probs = st.softmax(clf.logits(np.stack([w for _, w in ready]), "the stream"))
        for (start, _), p in zip(ready, probs):
            hop_event, change = tracker.update(p, start + clf.spec.window)
            out.write(json.dumps(hop_event, separators=(",", ":")) + "\n")
            if change is not None:
                alarms += 1
                out.write(json.dumps(change, separators=(",", ":")) + "\n")
                out.flush()
    out.flush()
    return {"hops": tracker.hops, "state": tracker.state, "alarm": tracker.alarm_class, "malformed_lines": malformed, "alarm_events": alarms}


def main(argv: Optional[Sequence[str]] = None) -> int:
    here = Path(__file__).resolve().parent
    p = argparse.ArgumentParser(description="Classify bearing vibration with this faultedge bundle. INPUT is a .npy "
                                "array, a text/.csv file of numbers, or '-' for standard input: a 1-D recording "
                                "(cut into consecutive windows) or rows of exactly one window each.")
    p.add_argument("input", nargs="?", help="recording or windows: FILE.npy, FILE.csv/.txt, or - for stdin")
    p.add_argument("--bundle", type=Path, default=here, help="bundle directory (default: this script's directory)")
    p.add_argument("--precision", choices=("fp32", "int8"), help="model precision (default: the board profile's)")
    p.add_argument("--graph-fft", action="store_true", help="use the single-file model with the FFT in the graph (slower)")
    p.add_argument("--provider", action="append", help="ONNX Runtime execution provider, repeatable, in order of preference")
    p.add_argument("--threads", type=int, help="intra-op threads (default: the board profile's; 0 = all cores)")
    p.add_argument("--hop", type=int, help="samples between window starts in a recording (default: one window)")
    p.add_argument("--format", choices=("text", "json", "csv"), default="text")
    p.add_argument("--bench", type=int, metavar="N", help="instead of classifying INPUT, time N single random windows")
    p.add_argument("--stream", action="store_true", help="continuous diagnosis of text sample lines (INPUT a text file or - for "
                   "stdin): a JSON line per hop and per alarm change, as `faultedge monitor` (hop default: a quarter window)")
    decide = p.add_argument_group("--stream decisions", "as `faultedge monitor`'s options; each defaults to streaming.py's AlarmSettings")
    decide.add_argument("--smooth", type=int, help="hops averaged and voted over")
    decide.add_argument("--agree", type=int, help="hops of the last --smooth naming one fault that raise its alarm")
    decide.add_argument("--move-agree", type=int, help="hops of the last --smooth naming another fault that move a raised alarm")
    decide.add_argument("--threshold", type=float, help="below this probability a hop is 'unknown'")
    decide.add_argument("--clear", type=int, help="consecutive normal hops that clear an alarm")
    decide.add_argument("--suppress", type=int, help="hops after an alarm event with no further one")
    args = p.parse_args(argv)
    np.seterr(over="ignore", invalid="ignore")  # bad samples get a RunnerError naming them, not numpy warnings
    if args.input is None and not args.bench:
        p.error("give an INPUT file, - for standard input, or --bench N")
    try:
        manifest = verify_bundle(args.bundle)
        clf, precision = bundle_classifier(args.bundle, manifest, args.precision, args.graph_fft, args.provider, args.threads)
        if args.bench:
            window = np.random.default_rng(0).standard_normal((1, clf.spec.window))
            lat = percentiles(time_calls(lambda: clf.classify(window), args.bench, max(10, args.bench // 10)))
            print(f"{precision} model on {clf.provider}, batch 1, raw window -> class: "
                  f"p50 {lat['p50']:.1f} us, p90 {lat['p90']:.1f} us, p99 {lat['p99']:.1f} us ({args.bench} runs)")
            return 0
        if args.stream:
            st = streaming_module()
            try:
                given = {f.name: getattr(args, f.name) for f in dataclasses.fields(st.AlarmSettings)}
                settings = st.AlarmSettings(**{k: v for k, v in given.items() if v is not None})
                hop = args.hop or st.default_hop(clf.spec.window)
                lines = sys.stdin if args.input == "-" else open(args.input, encoding="utf-8", errors="replace")
                with lines:
                    summary = stream_lines(clf, manifest["labels"], lines, hop, settings)
            except (st.StreamError, OSError) as exc:
                raise RunnerError(str(exc)) from None
            print(json.dumps({"summary": summary}), file=sys.stderr)
            return 0
        what = "standard input" if args.input == "-" else args.input
        windows, starts, ignored = windows_from_array(read_input(args.input), clf.spec.window, args.hop or clf.spec.window, what)
        res = results(clf.logits(windows, what), starts, manifest["labels"], ignored, {"precision": precision, "provider": clf.provider})
    except RunnerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = {"text": format_text, "csv": format_csv, "json": lambda r: json.dumps(r, indent=1)}[args.format](res)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
