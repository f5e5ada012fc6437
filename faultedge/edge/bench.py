"""`faultedge bench`: latency and throughput of every inference path of a run, side by side.

In one process and one run: PyTorch eager fp32 (the training code path: numpy features per the
spec + torch forward), ONNX Runtime fp32 and int8 QDQ on the fast path (numpy FFT magnitude,
normalisation and network in ORT) and with the FFT in the graph (ONNX DFT); each end to end
(raw window -> class) and model only (features -> class). Batch 1 latency as p50/p90/p99 after
warm-up, single-threaded and with all cores, and batch-256 throughput; the front ends alone
(raw window -> features) show why the fast path does its FFT in numpy. Paths are measured in
interleaved rounds, so a burst of load from other processes hits all of them alike. An
accelerator built by another stage (runs/NAME/fpga/BOARD/report.json) gets its own row.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any, Callable

import numpy as np
import torch

from faultedge.data.features import Preprocessing
from faultedge.edge import runner
from faultedge.edge.artifacts import load_spec, model_path, user_errors
from faultedge.edge.exported import ensure_exported
from faultedge.edge.onnx_export import front_end, test_windows
from faultedge.families import STUDENT
from faultedge.runs import RunDir, read_json, write_json

EAGER = "PyTorch eager"
SCOPES = ("end to end", "model only", "features only")


@dataclass(frozen=True)
class BenchConfig:
    repeats: int = 4000  # batch-1 calls per path, split over `rounds`
    warmup: int = 300
    rounds: int = 4
    batch: int = 256
    batch_repeats: int = 40
    budget_s: float = 1.0  # per path and round: bounds the time spent on a path that thrashes
    all_threads: int = os.cpu_count() or 1


@dataclass
class Candidate:
    """One way of getting classes from raw windows (end to end) or from features (model only)."""

    engine: str
    precision: str
    scope: str
    threads: int
    call: Callable[[np.ndarray], Any]
    inputs: np.ndarray  # a batch of windows or features; row 0 is the batch-1 input

    @property
    def label(self) -> str:
        return f"{self.engine} {self.precision}"


def _eager(run: RunDir, prep: Preprocessing, windows: np.ndarray, features: np.ndarray, threads: int) -> list[Candidate]:
    model, _ = STUDENT.float_model(run)
    e2e = lambda x: model(torch.from_numpy(prep(x))).argmax(1)  # noqa: E731 - the training code path
    only = lambda f: model(torch.from_numpy(f)).argmax(1)  # noqa: E731
    return [Candidate(EAGER, "fp32", SCOPES[0], threads, e2e, windows), Candidate(EAGER, "fp32", SCOPES[1], threads, only, features),
            Candidate(EAGER, "fp32", SCOPES[2], threads, prep, windows)]


def _ort(run: RunDir, report: dict[str, Any], spec: runner.Spec, windows: np.ndarray, features: np.ndarray, threads: int) -> list[Candidate]:
    paths = []
    precisions = sorted({k.split("_")[0] for k in report["models"]})
    for precision in precisions:
        for engine, front, scope, inputs in (
            ("ORT", "magnitude", SCOPES[0], windows),
            ("ORT", "features", SCOPES[1], features),
            ("ORT graph-DFT", "window", SCOPES[0], windows),
        ):
            clf = runner.Classifier(model_path(run, report, precision, front), spec, ["CPUExecutionProvider"], threads)
            paths.append(Candidate(engine, precision, scope, threads, clf.classify, inputs))
    # the front ends alone (raw window -> features): why the fast path does its FFT in numpy
    for engine, front in (("ORT", "magnitude"), ("ORT graph-DFT", "window")):
        paths.append(Candidate(engine, "fp32", SCOPES[2], threads, front_end(spec, front, threads).logits, windows))
    return paths


def _measure(paths: list[Candidate], cfg: BenchConfig) -> list[dict[str, Any]]:
    """Batch-1 latency over interleaved rounds, then batch throughput, for every path."""
    samples: dict[int, list[np.ndarray]] = {i: [] for i in range(len(paths))}
    per_round = max(1, cfg.repeats // cfg.rounds)
    for _ in range(cfg.rounds):
        for i, p in enumerate(paths):
            one = p.inputs[:1]
            torch.set_num_threads(p.threads)  # process-wide in torch; ORT sessions carry their own
            samples[i].append(runner.time_calls(lambda: p.call(one), per_round, cfg.warmup, cfg.budget_s))
    rows = []
    for i, p in enumerate(paths):
        torch.set_num_threads(p.threads)
        lat = runner.percentiles(np.concatenate(samples[i]))
        batch = p.inputs[: cfg.batch]
        seconds = np.median(runner.time_calls(lambda: p.call(batch), cfg.batch_repeats, 3, cfg.budget_s)) / 1e6
        rows.append({"engine": p.engine, "precision": p.precision, "scope": p.scope, "threads": p.threads,
                     "p50_us": lat["p50"], "p90_us": lat["p90"], "p99_us": lat["p99"], "repeats": lat["repeats"],
                     "throughput_per_s": len(batch) / seconds})
    return rows


def accelerator_rows(run: RunDir) -> list[dict[str, Any]]:
    """Rows for runs/NAME/fpga/BOARD/report.json, read as: `latency_us` (first input beat to class)
    or else `cycles_per_inference` / `fmax_mhz`; `throughput_per_s` or else fmax / cycles;
    `includes_fft` (true when raw samples go in: end to end, else model only); `bits`."""
    rows = []
    for path in sorted((run / "fpga").glob("*/report.json")):
        r = read_json(path)
        cycles, fmax = r.get("cycles_per_inference"), r.get("fmax_mhz")
        latency = r.get("latency_us") or (cycles / fmax if cycles and fmax else None)
        throughput = r.get("throughput_per_s") or (fmax * 1e6 / cycles if cycles and fmax else None)
        rows.append({"engine": f"FPGA {path.parent.name}", "precision": f"int{r.get('bits', 8)}",
                     "scope": SCOPES[0] if r.get("includes_fft") else SCOPES[1], "threads": None,
                     "p50_us": latency, "p90_us": latency, "p99_us": latency, "throughput_per_s": throughput,
                     "note": f"{cycles} cycles at {fmax} MHz" if cycles and fmax else "cycle-exact: p50 = p90 = p99",
                     "source": str(path)})
    return rows


def _ratios(rows: list[dict[str, Any]]) -> None:
    """vs_eager: the best (lowest p50) PyTorch eager configuration of the same scope over this row's p50.

    The best one, not the same thread count: multi-threaded eager at batch 1 can be orders of
    magnitude slower when the cores are shared (OpenMP threads waiting for each other), and a
    speed-up over a thrashing baseline would flatter every other row."""
    best: dict[str, float] = {}
    for r in rows:
        if r["engine"] == EAGER:
            best[r["scope"]] = min(best.get(r["scope"], float("inf")), r["p50_us"])
    for r in rows:
        base = best.get(r["scope"])
        r["vs_eager"] = base / r["p50_us"] if base and r["p50_us"] else None


def bench(run: RunDir, cfg: BenchConfig = BenchConfig()) -> dict[str, Any]:
    """Measure every path, add accelerator rows, write runs/NAME/bench/report.json."""
    report = ensure_exported(run)
    prep, spec = load_spec(run)
    windows, _ = test_windows(run)
    windows = np.resize(windows, (max(cfg.batch, 1), windows.shape[1]))  # repeat a short test set to fill a batch
    features = prep(windows)
    paths: list[Candidate] = []
    with user_errors():
        for threads in sorted({1, cfg.all_threads}):
            paths += _eager(run, prep, windows, features, threads) + _ort(run, report, spec, windows, features, threads)
    torch_threads = torch.get_num_threads()
    try:
        with torch.inference_mode():
            rows = _measure(paths, cfg)
    finally:
        torch.set_num_threads(torch_threads)
    rows += accelerator_rows(run)
    _ratios(rows)
    result = {
        "config": asdict(cfg),
        "rows": rows,
        "cpu": _cpu_name(),
        "load_average": list(os.getloadavg()),
        "numpy_fft": "pocketfft gufunc" if runner._RFFT.__name__ == "direct" else "np.fft.rfft",
        "versions": report["versions"],
    }
    write_json(run / "bench" / "report.json", result)
    return result


def _cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


TABLE = [("path", "path"), ("scope", "scope"), ("threads", "threads"), ("p50_us", "p50 us"), ("p90_us", "p90 us"),
         ("p99_us", "p99 us"), ("throughput_per_s", "windows/s @256"), ("vs_eager", "x best eager (p50)")]


def table_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [{**r, "path": f"{r['engine']} {r['precision']}", "threads": r["threads"] if r["threads"] is not None else "-",
             "throughput_per_s": round(r["throughput_per_s"]) if r["throughput_per_s"] else None} for r in result["rows"]]
