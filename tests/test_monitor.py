"""`faultedge monitor`: windows on a hop, decisions and alarms, every source, on real CWRU recordings."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
import threading
import time
import tty
from pathlib import Path

import numpy as np
import pytest

from faultedge.edge.streaming import AlarmSettings, AlarmTracker, StreamError, Windower
from faultedge.errors import DataError
from faultedge.ir.frontend import frame
from faultedge.monitor.backends import GoldenBackend, OnnxBackend
from faultedge.monitor.outputs import JsonLines
from faultedge.monitor.runtime import Monitor, MonitorSettings
from faultedge.monitor.sources import Replay, SerialLines, TextLines, read_recording

LABELS = ("normal", "B007", "IR007")
FAULT_FILE, NORMAL_FILE = "209_0.mat", "97_Normal_0.mat"  # IR021 and normal, 0 hp


def test_windower_cuts_the_same_windows_whatever_the_chunks():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(5000)
    for window, hop in ((512, 128), (512, 512), (100, 7)):
        w = Windower(window, hop)
        got, i = [], 0
        while i < len(x):
            n = int(rng.integers(1, 900))
            got += w.push(x[i : i + n])
            i += n
        want = frame(x, window, hop)
        assert [s for s, _ in got] == list(range(0, len(x) - window + 1, hop))
        assert np.array_equal(np.stack([g for _, g in got]), want)
    with pytest.raises(StreamError, match="1 <= hop <= window"):
        Windower(64, 65)


def _probs(label: int, p: float = 0.9) -> np.ndarray:
    out = np.full(len(LABELS), (1 - p) / (len(LABELS) - 1))
    out[label] = p
    return out


def _feed(tracker: AlarmTracker, labels: list[int], p: float = 0.9) -> list[dict]:
    changes = []
    for k, lab in enumerate(labels):
        _, change = tracker.update(_probs(lab, p), k)
        if change:
            changes.append(change)
    return changes


def test_an_alarm_needs_m_of_k_hops_and_clears_after_a_quiet_period():
    t = AlarmTracker("c", LABELS, "normal", AlarmSettings(smooth=4, agree=3, clear=5, suppress=0))
    changes = _feed(t, [0] * 6 + [1, 0, 1, 0] + [1] * 4 + [0] * 4)
    # hops 6-9 (1, 0, 1, 0) are 2 of 4: no alarm; hop 11 makes 1, 0, 1, 1: 3 of 4
    assert [(c["type"], c["class"], c["hop"]) for c in changes] == [("alarm", "B007", 11)]
    assert t.state == "alarm"
    changes = _feed(t, [0])
    assert changes[0]["type"] == "clear" and changes[0]["previous"] == "B007" and t.state == "normal"


def test_unknown_below_the_threshold_never_raises_and_suppression_holds_a_move():
    t = AlarmTracker("c", LABELS, "normal", AlarmSettings(smooth=3, agree=2, threshold=0.6, clear=2, suppress=3))
    hop, _ = t.update(_probs(1, 0.55), 0)
    assert hop["class"] == "unknown"
    assert _feed(t, [1, 1, 1], p=0.55) == []
    changes = _feed(t, [1, 1, 2, 2, 2, 2])
    assert [(c["type"], c["class"]) for c in changes] == [("alarm", "B007"), ("alarm", "IR007")]
    assert changes[1]["previous"] == "B007" and changes[1]["hop"] - changes[0]["hop"] > 3
    with pytest.raises(StreamError, match="agree"):
        AlarmSettings(smooth=2, agree=3)
    with pytest.raises(StreamError, match="move_agree"):
        AlarmSettings(smooth=3, agree=2, move_agree=4)


def test_an_alarm_is_raised_on_m_votes_but_moved_only_on_move_agree_votes():
    t = AlarmTracker("c", LABELS, "normal", AlarmSettings(smooth=4, agree=2, move_agree=3, clear=8, suppress=0))
    changes = _feed(t, [0, 0, 1, 1])  # 2 of 4 on B007: raised
    assert [(c["type"], c["class"], c["hop"]) for c in changes] == [("alarm", "B007", 3)]
    assert _feed(t, [2, 2]) == []  # 2 of 4 on IR007 is a raise's count, not a move's
    changes = _feed(t, [2])  # 3 of 4: moved
    assert [(c["type"], c["class"], c["previous"]) for c in changes] == [("alarm", "IR007", "B007")]
    with pytest.raises(StreamError, match="normal class"):
        AlarmTracker("c", LABELS, "healthy")


def _test_part(cwru_dir: Path, name: str) -> np.ndarray:
    x = read_recording(cwru_dir / name)
    return x[int(len(x) * 2 / 3) :]  # the time split's test part: never trained on


@pytest.fixture(scope="module")
def sequence(cwru_dir):
    """normal -> fault -> normal from the 0 hp test parts, 24 hops (of window / 4) each."""
    normal, fault = _test_part(cwru_dir, NORMAL_FILE), _test_part(cwru_dir, FAULT_FILE)
    n = 24 * 512
    return np.concatenate([normal[:n], fault[:n], normal[n : 2 * n]]), n


def _monitor(backend, sources, tmp_path: Path, settings=MonitorSettings()) -> tuple[dict, list[dict]]:
    out = tmp_path / "events.jsonl"
    summary = Monitor(backend, sources, [JsonLines(out)], settings).run()
    return summary, [json.loads(line) for line in out.read_text().splitlines()]


def _alarm_hops(events: list[dict], change: int, hop: int, window: int) -> list[tuple[str, str, int]]:
    """(type, class, hops after the first window that holds samples after the change) of each alarm event."""
    first = -(-(change - window + 1) // hop)  # the first window that reaches past the change
    return [(e["type"], e["class"], e["hop"] - first) for e in events if e["type"] != "hop"]


@pytest.mark.parametrize("kind", ["onnx", "golden"])
def test_a_fault_raises_its_alarm_within_five_hops_and_a_normal_stream_none(edge_run, sequence, cwru_dir, tmp_path, kind):
    run, _ = edge_run
    backend = OnnxBackend(run) if kind == "onnx" else GoldenBackend(run)
    x, n = sequence
    summary, events = _monitor(backend, [Replay("motor", samples=x, chunk=300)], tmp_path)
    alarms = _alarm_hops(events, n, 512, backend.window)
    assert alarms[0][:2] == ("alarm", "IR021") and 0 <= alarms[0][2] <= 5, alarms
    assert alarms[-1][0] == "clear" and len(alarms) == 2, alarms
    assert summary["channels"]["motor"]["hops"] == (len(x) - backend.window) // 512 + 1 == sum(e["type"] == "hop" for e in events)
    hop = next(e for e in events if e["type"] == "hop")
    assert abs(sum(hop["probabilities"]) - 1) < 1e-3 and hop["class"] == "normal"
    normal = _test_part(cwru_dir, NORMAL_FILE)
    summary, events = _monitor(backend, [Replay("healthy", samples=normal)], tmp_path)
    assert summary["alarm_events"] == 0 and summary["channels"]["healthy"]["hops"] > 150


def test_channels_are_batched_together_and_each_keeps_its_own_alarm(edge_run, sequence, cwru_dir, tmp_path):
    run, _ = edge_run
    x, n = sequence
    normal = _test_part(cwru_dir, NORMAL_FILE)[: len(x)]
    sources = [Replay(f"m{k}", samples=x if k % 2 else normal, chunk=512) for k in range(6)]
    summary, events = _monitor(OnnxBackend(run), sources, tmp_path)
    raised = {e["channel"] for e in events if e["type"] == "alarm"}
    assert raised == {"m1", "m3", "m5"}
    assert all(c["hops"] == summary["channels"]["m0"]["hops"] for c in summary["channels"].values())


def test_a_realtime_replay_keeps_the_sample_rate(edge_run, sequence):
    run, _ = edge_run
    x, _ = sequence
    src = Replay("rt", samples=x[: 2048 + 4 * 512], rate_hz=12000.0, realtime=True, chunk=512)
    t0 = time.monotonic()
    summary = Monitor(OnnxBackend(run), [src], []).run()
    assert summary["windows"] == 5
    assert time.monotonic() - t0 >= len(src.samples) / 12000.0 - 512 / 12000.0  # the last chunk is sent without waiting after it


def test_wav_and_npy_recordings_replay_alike(edge_run, sequence, tmp_path):
    from scipy.io import wavfile

    run, _ = edge_run
    x = np.round(sequence[0][:6000] * 8000).astype(np.int16)
    wavfile.write(tmp_path / "rec.wav", 12000, x)
    np.save(tmp_path / "rec.npy", x.astype(np.float64))
    a, b = read_recording(tmp_path / "rec.wav"), read_recording(tmp_path / "rec.npy")
    assert np.array_equal(a, b)
    (tmp_path / "rec.flac").write_bytes(b"fLaC")
    with pytest.raises(DataError, match="unsupported recording type"):
        read_recording(tmp_path / "rec.flac")
    with pytest.raises(DataError, match="no such recording"):
        read_recording(tmp_path / "gone.npy")


def _cli(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "faultedge.cli", "monitor", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def test_stdin_counts_and_skips_malformed_lines(edge_run, sequence, tmp_path):
    run, _ = edge_run
    x, n = sequence
    lines = [f"{v:.6f}" for v in x[: n + 8 * 512]]
    lines[100] = "12.0 abc"
    lines[5000] = "nan"
    p = _cli(str(run.path), "--stdin", "accel", "--events", "changes", "--summary", str(tmp_path / "s.json"), stdin=subprocess.PIPE)
    out, err = p.communicate("\n".join(lines) + "\n", timeout=120)
    assert p.returncode == 0, err
    assert "line 101 is not a list of numbers" in err and "line 5001" in err
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["channels"]["accel"]["malformed_lines"] == 2
    assert [json.loads(l)["class"] for l in out.splitlines()] == ["IR021"]


def test_sigterm_flushes_the_events_and_ends_cleanly(edge_run, sequence, tmp_path):
    run, _ = edge_run
    x, _ = sequence
    np.save(tmp_path / "long.npy", x)
    out = tmp_path / "events.jsonl"
    p = _cli(str(run.path), "--replay", f"m={tmp_path / 'long.npy'}", "--realtime", "--out", str(out), "--summary", str(tmp_path / "s.json"))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not out.exists() or out.stat().st_size == 0):
        time.sleep(0.2)
    time.sleep(0.5)
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    hops = [e for e in map(json.loads, out.read_text().splitlines()) if e["type"] == "hop"]
    summary = json.loads((tmp_path / "s.json").read_text())
    assert 0 < len(hops) == summary["channels"]["m"]["hops"] < (len(x) - 2048) // 512 + 1


def test_a_serial_port_is_read_and_a_lost_port_retried(edge_run, sequence, tmp_path):
    run, _ = edge_run
    x, n = sequence
    master, slave = pty.openpty()
    tty.setraw(slave)  # a serial line: no echo, no line editing, from the first byte
    warnings: list[str] = []
    src = SerialLines("uart", chunk=512, port=os.ttyname(slave), warn=warnings.append, backoff_max=0.5)
    mon = Monitor(OnnxBackend(run), [src], [JsonLines(tmp_path / "e.jsonl", "changes")])
    result: dict = {}
    th = threading.Thread(target=lambda: result.update(mon.run()))
    th.start()
    assert src.connected.wait(30)  # opening a port flushes what was sent before
    payload = "".join(f"{v:.5f}\n" for v in x[: n + 8 * 512]).encode()
    for i in range(0, len(payload), 4096):
        os.write(master, payload[i : i + 4096])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and mon.trackers["uart"].hops < (n + 8 * 512 - 2048) // 512 + 1:
        time.sleep(0.1)
    os.close(master)  # the device goes away
    while time.monotonic() < deadline and not src.stats.reconnects:
        time.sleep(0.1)
    mon.stop.set()
    th.join(30)
    os.close(slave)
    assert mon.trackers["uart"].alarm_class == "IR021"
    assert src.stats.reconnects >= 1 and any("retrying" in w for w in warnings)
    assert result["channels"]["uart"]["reconnects"] >= 1


def test_bad_options_are_refused_before_anything_runs(edge_run, tmp_path):
    from faultedge.cli import main

    run, _ = edge_run
    assert main(["monitor", str(run.path), "--backend", "fpga"]) == 2  # no source given
    assert main(["monitor", str(run.path)]) == 2
    assert main(["monitor", str(run.path), "--replay", str(tmp_path / "missing.npy")]) == 2
    assert main(["monitor", str(run.path), "--replay", "x.npy", "--agree", "9"]) == 2
