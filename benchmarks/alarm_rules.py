"""The monitor's alarm rules side by side (issue 23): latency, naming and false alarms on real CWRU streams.

    python benchmarks/alarm_rules.py runs/mon_gstd0 runs/mon_gstd1 runs/mon_gstd2 --data ../shared/data/cwru \
        --out benchmarks/results/alarm_rules_gstd.json

Each rule (a set of `AlarmSettings` fields over the defaults) sees the same streams, built as in
benchmarks/monitor.py: normal -> fault -> normal at hop = window / 4, for every fault recording of
0 hp and 1 hp, noise-free and at -6 dB over --draws noise draws (seeds 10, 11, ...; monitor.py's
own draw is seed = load). False alarms: the normal recording's test part alone at each of --snrs,
--draws noise draws each (seeds 100, ...). A run's window scores are computed once and shared by
every rule, so rules differ only in their decisions. Reported per rule, summed over the runs:
fault streams with the alarm within 5 hops, the worst latency, the first alarm naming another
fault (and another location: B, IR or OR), the right fault named within 5 hops, alarm moves
during the fault, and false alarms per SNR.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from monitor import TARGET_HOPS, alarms, noisy, recordings, run_stream, test_part  # this directory is on sys.path
from faultedge.edge.streaming import AlarmSettings, default_hop
from faultedge.monitor.backends import Scores, make_backend
from faultedge.monitor.runtime import MonitorSettings
from faultedge.runs import RunDir, write_json

RULES = {  # name -> fields over AlarmSettings' defaults
    "default": {},
    "M 3 of 4 (before 2026-12-03)": {"agree": 3, "move_agree": 3, "suppress": 4},
    "M 2 of 4, moves on 2": {"move_agree": 2},
    "M 2 of 4, moves on 4": {"move_agree": 4},
}


class SharedScores:
    """A back end whose window scores are computed once per distinct batch: every rule sees the same numbers."""

    def __init__(self, backend: Any) -> None:
        self.backend, self.cache = backend, {}  # type: Any, dict[str, Scores]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.backend, name)

    def scores(self, windows: np.ndarray) -> Scores:
        key = hashlib.sha1(np.ascontiguousarray(windows).tobytes()).hexdigest()
        if key not in self.cache:
            self.cache[key] = self.backend.scores(windows)
        return self.cache[key]


def location(label: str) -> str:
    return label.split("0")[0]  # B007 -> B, IR014 -> IR, OR021@6 -> OR


def score_rule(backends: list[SharedScores], data: Path, rule: dict[str, Any], draws: int, snrs: list[float]) -> dict[str, Any]:
    out = {"rule": rule, "fault_streams": 0, "within_target": 0, "worst_hops": 0, "missed": 0, "wrong_first": 0,
           "wrong_location_first": 0, "right_within_target": 0, "moves": 0, "false_alarms": {}}
    for b in backends:
        settings = MonitorSettings(hop=default_hop(b.window), alarms=AlarmSettings(**rule))
        for load in (0, 1):
            for snr, seeds in ((None, [load]), (-6.0, list(range(10, 10 + draws)))):
                for seed in seeds:
                    for f in alarms(b, data, load, snr, settings, seed=seed)["faults"]:
                        h, right = f["hops_to_alarm"], f["hops_to_right_class"]
                        out["fault_streams"] += 1
                        out["within_target"] += h is not None and h <= TARGET_HOPS
                        out["missed"] += h is None
                        out["worst_hops"] = max(out["worst_hops"], h or 0)
                        out["wrong_first"] += h is not None and not f["right_class"]
                        out["wrong_location_first"] += h is not None and location(f["alarm_class"]) != location(f["fault"])
                        out["right_within_target"] += right is not None and right <= TARGET_HOPS
                        out["moves"] += max(0, f["alarm_events_in_fault"] - 1)
        normal = test_part(recordings(data, 0)[0])
        for snr in snrs:
            key = "noise-free" if snr is None else f"{snr:g} dB"
            got = out["false_alarms"].setdefault(key, {"alarms": 0, "hops": 0})
            for seed in range(100, 100 + (1 if snr is None else draws)):
                changes = run_stream(b, noisy(normal, snr, np.random.default_rng(seed)), settings)
                got["alarms"] += sum(e["type"] == "alarm" for e in changes)
                got["hops"] += (len(normal) - b.window) // settings.hop + 1
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", help="trained, exported runs (one per seed)")
    ap.add_argument("--data", type=Path, default=Path("../shared/data/cwru"))
    ap.add_argument("--draws", type=int, default=5, help="noise draws per noisy stream (default 5)")
    ap.add_argument("--snrs", type=float, nargs="+", default=[-6.0, -9.0, -12.0], help="SNRs of the normal-only streams, besides noise-free")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/alarm_rules.json"))
    args = ap.parse_args(argv)
    backends = [SharedScores(make_backend("onnx", RunDir(r))) for r in args.runs]
    result: dict[str, Any] = {"runs": args.runs, "defaults": AlarmSettings().to_dict(), "draws": args.draws, "rules": {}}
    for name, rule in RULES.items():
        r = score_rule(backends, args.data, rule, args.draws, [None, *args.snrs])
        result["rules"][name] = r
        write_json(args.out, result)
        false = ", ".join(f"{k} {v['alarms']}/{v['hops']}" for k, v in r["false_alarms"].items())
        print(f"{name}: within {TARGET_HOPS} hops {r['within_target']}/{r['fault_streams']} (worst {r['worst_hops']}, missed {r['missed']}), "
              f"wrong first {r['wrong_first']} (other location {r['wrong_location_first']}), right within {TARGET_HOPS} "
              f"{r['right_within_target']}, moves {r['moves']}; false alarms/hops {false}", flush=True)
    print(json.dumps(result["defaults"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
