"""Several channels interleaved in one stream (a CSV line with a column per channel, a multi-channel recording):
each channel gets its own windows, decisions, alarm, MQTT topics and page panel, on real CWRU recordings where
one channel goes from normal to a fault and the other stays normal."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from test_monitor_outputs import Subscriber, _free_port, broker

from faultedge.errors import DataError
from faultedge.monitor.backends import OnnxBackend
from faultedge.monitor.outputs import JsonLines
from faultedge.monitor.runtime import Monitor
from faultedge.monitor.sources import Replay, read_frames, read_recording

HOP = 512


def _test_part(cwru_dir: Path, name: str) -> np.ndarray:
    x = read_recording(cwru_dir / name)
    return x[int(len(x) * 2 / 3) :]  # the time split's test part: never trained on


@pytest.fixture(scope="module")
def pair(cwru_dir) -> np.ndarray:
    """Frames (n, 2): "pump" normal throughout, "motor" normal then IR021, 16 hops each."""
    normal, fault = _test_part(cwru_dir, "97_Normal_0.mat"), _test_part(cwru_dir, "209_0.mat")
    n = 16 * HOP
    return np.stack([normal[2 * n : 4 * n], np.concatenate([normal[:n], fault[:n]])], axis=1)


def _events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_an_interleaved_recording_is_split_into_channels_that_decide_alone(edge_run, pair, tmp_path):
    """One 2-channel recording gives each channel exactly the events it gives replayed by itself."""
    from scipy.io import wavfile

    run, _ = edge_run
    x = np.round(np.clip(pair * 4000, -32768, 32767)).astype(np.int16)
    wavfile.write(tmp_path / "pair.wav", 12000, x)
    frames = read_frames(tmp_path / "pair.wav", 2)
    assert np.array_equal(frames, x.astype(np.float64))
    backend = OnnxBackend(run)
    Monitor(backend, [Replay("pair", ("pump", "motor"), samples=frames, chunk=300)], [JsonLines(tmp_path / "both.jsonl")]).run()
    Monitor(backend, [Replay("pump", samples=frames[:, 0], chunk=700), Replay("motor", samples=frames[:, 1], chunk=512)],
            [JsonLines(tmp_path / "alone.jsonl")]).run()
    both, alone = _events(tmp_path / "both.jsonl"), _events(tmp_path / "alone.jsonl")
    for channel in ("pump", "motor"):
        assert [e for e in both if e["channel"] == channel] == [e for e in alone if e["channel"] == channel]
    assert [(e["channel"], e["class"]) for e in both if e["type"] == "alarm"] == [("motor", "IR021")]

    np.savetxt(tmp_path / "three.csv", np.zeros((8, 3)), delimiter=",")
    with pytest.raises(DataError, match=r"24 values in 3 column\(s\) are not whole frames of 2 channels"):
        read_frames(tmp_path / "three.csv", 2)
    with pytest.raises(DataError, match="2 audio channel"):
        read_frames(tmp_path / "pair.wav", 3)


def test_csv_lines_on_stdin_feed_a_channel_each_with_its_own_alarm_topic_and_panel(edge_run, pair, tmp_path):
    run, _ = edge_run
    mqtt = _free_port()
    lines = [f"{a!r},{b!r}" for a, b in pair.tolist()]
    lines.insert(100, "1.0,2.0,3.0")  # not a whole frame: skipped, for both channels
    hops = (len(pair) - 2048) // HOP + 1
    with broker(mqtt):
        sub = Subscriber(mqtt)
        proc = subprocess.Popen([sys.executable, "-m", "faultedge.cli", "monitor", str(run.path), "--stdin", "pump,motor", "--events", "changes",
                                 "--mqtt", f"127.0.0.1:{mqtt}", "--serve", "0", "--out", str(tmp_path / "e.jsonl"),
                                 "--summary", str(tmp_path / "s.json")], stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            url = next(line for line in iter(proc.stderr.readline, "") if line.startswith("live page: ")).split()[-1]
            proc.stdin.write("\n".join(lines) + "\n")
            proc.stdin.flush()
            deadline = time.monotonic() + 60
            while True:  # the page, while the monitor runs: a panel per channel
                with urllib.request.urlopen(url + "snapshot", timeout=5) as r:
                    panels = json.load(r)["channels"]
                if all(len(panels.get(c, {}).get("probabilities", [])) == hops for c in ("pump", "motor")):
                    break
                assert time.monotonic() < deadline, panels.keys()
                time.sleep(0.1)
            assert (panels["motor"]["state"], panels["motor"]["alarm"]) == ("alarm", "IR021")
            assert (panels["pump"]["state"], panels["pump"]["events"]) == ("normal", [])
            assert sub.wait(lambda m: m[0] == "faultedge/motor/state" and m[1]["state"] == "alarm")
            assert sub.wait(lambda m: m[0] == "faultedge/pump/state" and m[1]["state"] == "normal")
        finally:
            proc.stdin.close()
            err = proc.stderr.read()
            proc.wait(60)
            sub.close()
    assert proc.returncode == 0, err
    assert "line 101 is not whole frames of 2 channels (3 numbers)" in err
    assert not any(t.startswith("faultedge/pump/") and m["type"] == "alarm" for t, m, _ in sub.messages if "type" in m)
    assert any(t == "faultedge/motor/events" and m["class"] == "IR021" for t, m, _ in sub.messages if "type" in m)
    assert [(e["type"], e["channel"], e["class"]) for e in _events(tmp_path / "e.jsonl")] == [("alarm", "motor", "IR021")]
    summary = json.loads((tmp_path / "s.json").read_text())
    assert {c: (s["hops"], s["malformed_lines"]) for c, s in summary["channels"].items()} == {"pump": (hops, 1), "motor": (hops, 1)}
