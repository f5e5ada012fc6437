"""The monitor's targets on real CWRU streams (issue 23), written as JSON (and a markdown summary).

    python benchmarks/monitor.py RUN --data ../shared/data/cwru                   # alarms, false alarms, throughput, memory
    python benchmarks/monitor.py RUN --data ../shared/data/cwru --screenshot docs/monitor_page.png
    python benchmarks/monitor.py RUN --network axmlp --parts alarms --out FILE.json  # the MLP's alarms alone

Alarms: for each fault recording of a load, the test part (the time split's last third, never
trained on) of the normal recording (CWRU has one, at 0 hp), then the fault's, then normal again, as one stream at hop =
window / 4, noise-free and at -6 dB (white noise at the SNR of each segment's power). Reported:
hops from the first window that reaches into the fault to the alarm (target <= 5), whether the
alarm names the right fault (and when an alarm first names it), and when it clears. False alarms: the normal recording's test part
alone. Throughput: --channels streams (the fault recordings' test parts, cycled) at
hop 256, as fast as one core takes them (windows/s), then the same channels paced at 12 kHz (the
hop-to-event latency while keeping up, and the CPU share it takes). Memory: the
process's resident size over --memory-hops hops. --network picks the run's network (the student by
default, or the axial-shift MLP: `faultedge monitor --network`), --parts which of these run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from faultedge.data.noise import add_awgn
from faultedge.edge.streaming import AlarmSettings, default_hop
from faultedge.families import EXPORTED, STUDENT_NAME
from faultedge.monitor.backends import make_backend
from faultedge.monitor.runtime import Monitor, MonitorSettings
from faultedge.monitor.sources import Replay, read_recording
from faultedge.runs import RunDir, write_json

TARGET_HOPS, TARGET_CHANNELS, TARGET_RATE_HZ, TARGET_HOP = 5, 200, 12000, 256
PARTS = ("alarms", "throughput", "paced", "memory")


class Collect:
    """An output that keeps the alarm events (hop events are counted, not kept)."""

    def __init__(self) -> None:
        self.changes: list[dict[str, Any]] = []
        self.hops = 0

    def emit(self, event: dict[str, Any]) -> None:
        if event["type"] == "hop":
            self.hops += 1
        else:
            self.changes.append(event)

    def close(self) -> None:
        pass


def test_part(path: Path) -> np.ndarray:
    x = read_recording(path)
    return x[int(len(x) * 2 / 3) :]


def noisy(x: np.ndarray, snr: float | None, rng: np.random.Generator) -> np.ndarray:
    return x if snr is None else add_awgn(x[None, :], snr, rng)[0]


def recordings(data: Path, load: int) -> tuple[Path, list[tuple[str, Path]]]:
    """The normal recording and the load's fault recordings (label, path), from MANIFEST.tsv. The data
    set has one normal recording, at 0 hp: every load's streams start and end with it."""
    from faultedge.data.classes import CLASS_NAMES, class_index

    normal, faults = None, []
    for line in (data / "MANIFEST.tsv").read_text().splitlines()[1:]:
        f = line.split("\t")
        if f[2] == "normal" and int(f[1]) == 0:
            normal = data / f[0]
        elif f[2] != "normal" and int(f[1]) == load:
            faults.append((CLASS_NAMES[class_index(f[2], float(f[3]))], data / f[0]))
    if normal is None or not faults:
        sys.exit(f"{data}: need the 0 hp normal recording and load {load}'s fault recordings")
    return normal, faults


def run_stream(backend, x: np.ndarray, settings: MonitorSettings) -> list[dict[str, Any]]:
    out = Collect()
    Monitor(backend, [Replay("s", samples=x, chunk=4096)], [out], settings).run()
    return out.changes


def alarms(backend, data: Path, load: int, snr: float | None, settings: MonitorSettings, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    normal_path, faults = recordings(data, load)
    normal = test_part(normal_path)
    window, hop = backend.window, settings.hop
    half = len(normal) // 2
    rows = []
    for label, path in faults:
        fault = test_part(path)
        a, b, c = noisy(normal[:half], snr, rng), noisy(fault, snr, rng), noisy(normal[half:], snr, rng)
        x = np.concatenate([a, b, c])
        first = -(-(len(a) - window + 1) // hop)  # the first window reaching into the fault
        back = -(-(len(a) + len(b) - window + 1) // hop)  # the first window reaching into normal again
        changes = run_stream(backend, x, settings)
        raised = [e for e in changes if e["type"] == "alarm" and e["hop"] >= first]
        early = [e for e in changes if e["type"] == "alarm" and e["hop"] < first]
        cleared = [e for e in changes if e["type"] == "clear" and e["hop"] >= back]
        right = [e for e in raised if e["class"] == label]  # the first alarm naming the fault (raised, or moved to it)
        rows.append({"fault": label, "alarm_class": raised[0]["class"] if raised else None,
                     "hops_to_alarm": raised[0]["hop"] - first if raised else None,
                     "hops_to_right_class": right[0]["hop"] - first if right else None,
                     "right_class": bool(raised) and raised[0]["class"] == label, "alarm_events_in_fault": len(raised),
                     "false_alarms_before": len(early), "hops_to_clear": cleared[0]["hop"] - back if cleared else None})
    false = run_stream(backend, noisy(normal, snr, rng), settings)
    met = [r for r in rows if r["hops_to_alarm"] is not None and r["hops_to_alarm"] <= TARGET_HOPS]
    return {"load_hp": load, "snr_db": snr, "faults": rows, "normal_only": {"hops": (len(normal) - window) // hop + 1,
            "alarm_events": sum(e["type"] == "alarm" for e in false)},
            "alarms_within_target": f"{len(met)}/{len(rows)}", "right_class": f"{sum(r['right_class'] for r in rows)}/{len(rows)}"}


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def paced(backend, data: Path, channels: int, hop: int, seconds: float) -> dict[str, Any]:
    """`channels` replays at 12 kHz in real time for `seconds`: the hop-to-event latency when the
    monitor keeps up (not the queueing of an as-fast-as-possible replay), and the CPU it takes."""
    _, faults = recordings(data, 0)
    parts = [test_part(p) for _, p in faults]
    n = int(TARGET_RATE_HZ * seconds)
    sources = [Replay(f"c{k:03d}", samples=np.tile(parts[k % len(parts)], -(-n // len(parts[k % len(parts)])))[:n], realtime=True,
                      rate_hz=TARGET_RATE_HZ, chunk=hop) for k in range(channels)]
    cpu0 = time.process_time()
    summary = Monitor(backend, sources, [Collect()], MonitorSettings(hop=hop)).run()
    return {"channels": channels, "hop": hop, "seconds": summary["seconds"], "windows": summary["windows"],
            "latency_us": summary["latency_us"], "cpu_fraction": round((time.process_time() - cpu0) / summary["seconds"], 3)}


def throughput(backend, data: Path, channels: int, hop: int, hops_per_channel: int) -> dict[str, Any]:
    _, faults = recordings(data, 0)
    parts = [test_part(p) for _, p in faults]
    need = backend.window + hop * (hops_per_channel - 1)
    sources = []
    for k in range(channels):
        x = parts[k % len(parts)]
        reps = -(-need // len(x))
        sources.append(Replay(f"c{k:03d}", samples=np.tile(x, reps)[:need], chunk=hop))
    mon = Monitor(backend, sources, [Collect()], MonitorSettings(hop=hop))
    summary = mon.run()
    return {"channels": channels, "hop": hop, "hops_per_channel": hops_per_channel, "windows": summary["windows"], "seconds": summary["seconds"],
            "windows_per_s": summary["windows_per_s"], "latency_us": summary["latency_us"],
            "needed_windows_per_s": round(channels * TARGET_RATE_HZ / hop, 1),
            "met": summary["windows_per_s"] >= channels * TARGET_RATE_HZ / hop}


def memory(backend, data: Path, hops: int, channels: int = 50) -> dict[str, Any]:
    """RSS sampled every second while `hops` hops (over `channels` replays) run."""
    _, faults = recordings(data, 0)
    x = test_part(faults[0][1])
    per = -(-hops // channels)
    loops = -(-(backend.window + 512 * per) // len(x))
    sources = [Replay(f"m{k}", samples=x, chunk=512, loops=loops) for k in range(channels)]
    mon = Monitor(backend, sources, [Collect()], MonitorSettings(hop=512))
    samples: list[tuple[float, float, int]] = []
    stop = threading.Event()

    def sample() -> None:
        t0 = time.perf_counter()
        while not stop.wait(1.0):
            samples.append((round(time.perf_counter() - t0, 1), round(rss_mb(), 1), mon.windows))

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    summary = mon.run()
    stop.set()
    th.join()
    tenth = [s for s in samples if s[2] >= summary["windows"] // 10]
    return {"hops": summary["windows"], "seconds": summary["seconds"], "rss_mb_at_10pct": tenth[0][1] if tenth else None,
            "rss_mb_at_end": samples[-1][1] if samples else None, "rss_mb_max": max(s[1] for s in samples) if samples else None,
            "samples": samples[:: max(1, len(samples) // 40)]}


def screenshot(run: str, data: Path, path: Path, network: str = STUDENT_NAME) -> None:
    """The live page on a normal -> IR021 replay, once its alarm shows, for the docs."""
    import socket
    import subprocess
    import tempfile

    from playwright.sync_api import sync_playwright

    normal_path, faults = recordings(data, 0)
    fault = dict(faults)["IR021"]
    n, f = test_part(normal_path), test_part(fault)
    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "motor_a.npy", np.concatenate([n[:20000], f]))
        np.save(Path(tmp) / "motor_b.npy", n)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        proc = subprocess.Popen([sys.executable, "-m", "faultedge.cli", "monitor", run, "--replay", f"motor_a={tmp}/motor_a.npy",
                                 "--replay", f"motor_b={tmp}/motor_b.npy", "--realtime", "--loops", "3", "--serve", str(port), "--events", "changes",
                                 "--network", network],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(3)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
                page = browser.new_page(viewport={"width": 1120, "height": 560})
                page.goto(f"http://127.0.0.1:{port}/")
                page.locator('[data-channel="motor_a"] .state.alarm').wait_for(timeout=60_000)
                page.wait_for_timeout(4000)
                page.screenshot(path=str(path))
                browser.close()
        finally:
            proc.terminate()
            proc.wait(30)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", help="a trained, exported run (faultedge train + faultedge quantize)")
    ap.add_argument("--data", type=Path, default=Path("../shared/data/cwru"))
    ap.add_argument("--backend", choices=("onnx", "golden"), default="onnx")
    ap.add_argument("--network", choices=EXPORTED, default=STUDENT_NAME,
                    help=f"the run's network the back end runs (default {STUDENT_NAME})")
    ap.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS), help="which measurements to make (default all)")
    ap.add_argument("--loads", type=int, nargs="+", default=[0, 1], help="loads with fault recordings (the shared data: 0 and 1 hp)")
    ap.add_argument("--channels", type=int, default=TARGET_CHANNELS)
    ap.add_argument("--hops-per-channel", type=int, default=100)
    ap.add_argument("--paced-seconds", type=float, default=10.0, help="length of the real-time run (latency when keeping up)")
    ap.add_argument("--memory-hops", type=int, default=1_000_000)
    ap.add_argument("--one-core", action="store_true", help="pin the process to one core (the throughput target's condition)")
    ap.add_argument("--screenshot", type=Path, help="also write the live page's screenshot here")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/monitor.json"))
    args = ap.parse_args(argv)
    if args.one_core:
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    backend = make_backend(args.backend, RunDir(args.run), network=args.network)
    settings = MonitorSettings(hop=default_hop(backend.window), alarms=AlarmSettings())
    result: dict[str, Any] = {"run": args.run, "network": args.network, "backend": backend.name, "window": backend.window,
                              "hop": settings.hop, "alarm_settings": settings.alarms.to_dict(), "alarms": []}
    for load in args.loads if "alarms" in args.parts else ():
        for snr in (None, -6.0):
            r = alarms(backend, args.data, load, snr, settings, seed=load)
            result["alarms"].append(r)
            write_json(args.out, result)
            hops = " ".join("-" if f["hops_to_alarm"] is None else str(f["hops_to_alarm"]) for f in r["faults"])
            print(f"load {load} hp, {'noise-free' if snr is None else f'{snr:g} dB'}: alarms within {TARGET_HOPS} hops {r['alarms_within_target']}, "
                  f"right class {r['right_class']}, false alarms on normal {r['normal_only']['alarm_events']} in {r['normal_only']['hops']} hops; "
                  f"hops to alarm {hops}", flush=True)
    if "throughput" in args.parts:
        result["throughput"] = throughput(backend, args.data, args.channels, TARGET_HOP, args.hops_per_channel)
        write_json(args.out, result)
        print(f"throughput: {result['throughput']}", flush=True)
    if "paced" in args.parts:
        result["paced"] = paced(backend, args.data, args.channels, TARGET_HOP, args.paced_seconds)
        write_json(args.out, result)
        print(f"real time: {result['paced']}", flush=True)
    if args.memory_hops and "memory" in args.parts:
        result["memory"] = memory(backend, args.data, args.memory_hops)
        write_json(args.out, result)
        m = result["memory"]
        print(f"memory: {m['hops']} hops in {m['seconds']} s, RSS {m['rss_mb_at_10pct']} MB at 10 % -> {m['rss_mb_at_end']} MB at the end", flush=True)
    if args.screenshot:
        screenshot(args.run, args.data, args.screenshot, args.network)
    print(json.dumps({k: v for k, v in result.items() if k != "memory"}, indent=1)[:2000])
    return 0


if __name__ == "__main__":
    sys.exit(main())
