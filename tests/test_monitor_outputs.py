"""The monitor's outputs against real components: a Mosquitto broker (Debian's) and the live page in
a headless Chromium (Debian's, driven by playwright), on a real CWRU normal -> fault -> normal replay."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from faultedge.monitor.backends import OnnxBackend
from faultedge.monitor.mqtt import MqttOutput
from faultedge.monitor.runtime import Monitor
from faultedge.monitor.sources import Replay, read_recording



def _tool(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if path is None:
        pytest.fail(f"{name} not found: `make test` installs it (Debian package)")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_listening(port: int, seconds: float) -> None:
    """Until something accepts connections on the port (a broker or the monitor's page starting up)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"nothing listens on port {port} after {seconds} s")


@contextmanager
def broker(port: int) -> Iterator[subprocess.Popen]:
    proc = subprocess.Popen([_tool("mosquitto"), "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_listening(port, 10)
    try:
        yield proc
    finally:
        proc.terminate()
        proc.wait(10)


class Subscriber:
    """A plain paho client that records what arrives on faultedge/#."""

    def __init__(self, port: int) -> None:
        import paho.mqtt.client as mqtt

        self.messages: list[tuple[str, dict, bool]] = []
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, json.loads(m.payload), bool(m.retain)))
        self.client.on_connect = lambda c, u, f, r, p: c.subscribe("faultedge/#", qos=1)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def wait(self, predicate, timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(predicate(m) for m in list(self.messages)):
                return True
            time.sleep(0.05)
        return False

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _sequence(cwru_dir: Path, hops: int = 24) -> np.ndarray:
    parts = []
    for name in ("97_Normal_0.mat", "209_0.mat"):
        x = read_recording(cwru_dir / name)
        parts.append(x[int(len(x) * 2 / 3) :])
    n = hops * 512
    return np.concatenate([parts[0][:n], parts[1][:n], parts[0][n : 2 * n]])


def test_mqtt_events_and_a_retained_state_that_survives_a_broker_restart(edge_run, cwru_dir):
    run, _ = edge_run
    port = _free_port()
    x = _sequence(cwru_dir)
    with broker(port):
        sub = Subscriber(port)
        out = MqttOutput("127.0.0.1", port, events="changes")
        src = Replay("motor", samples=np.concatenate([x, x[: 24 * 512 * 3]]), realtime=True, rate_hz=24000.0, chunk=512)
        mon = Monitor(OnnxBackend(run), [src], [out])
        th = threading.Thread(target=mon.run)
        th.start()
        try:
            assert sub.wait(lambda m: m[0] == "faultedge/motor/events" and m[1]["type"] == "alarm" and m[1]["class"] == "IR021")
            assert sub.wait(lambda m: m[0] == "faultedge/motor/state" and m[1]["state"] == "alarm")
        finally:
            sub.close()
    # the broker went away and comes back empty (no persistence): the monitor reconnects and republishes
    with broker(port):
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and out.connections < 2:
            time.sleep(0.1)
        late = Subscriber(port)  # subscribes after the fact: sees only retained state
        try:
            assert late.wait(lambda m: m[0] == "faultedge/motor/state" and m[2]), "no retained state after the broker restart"
        finally:
            late.close()
            mon.stop.set()
            th.join(30)
    assert out.connections >= 2


def test_mqtt_broker_that_is_not_there_is_a_clear_error():
    from faultedge.errors import DataError

    with pytest.raises(DataError, match="cannot connect"):
        MqttOutput("127.0.0.1", _free_port())


def test_the_live_page_shows_the_alarm_in_a_real_browser(edge_run, cwru_dir, tmp_path):
    from playwright.sync_api import sync_playwright

    run, _ = edge_run
    x = _sequence(cwru_dir)
    np.save(tmp_path / "seq.npy", x)
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "faultedge.cli", "monitor", str(run.path), "--replay", f"motor={tmp_path / 'seq.npy'}",
                             "--realtime", "--rate", "6000", "--loops", "3", "--serve", str(port), "--events", "changes"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_listening(port, 60)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=_tool("chromium"), args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1100, "height": 620})
            page.goto(f"http://127.0.0.1:{port}/")
            card = page.locator('[data-channel="motor"]')
            card.locator(".state.alarm").wait_for(timeout=60_000)
            assert "IR021" in card.locator(".state").inner_text()
            # the hop event that turns the badge red comes just before the alarm event that adds the history entry
            card.locator(".history li", has_text="alarm IR021").first.wait_for(timeout=10_000)
            assert page.locator("#status").inner_text() == "live"
            page.wait_for_timeout(500)
            shot = page.screenshot()
            browser.close()
        assert shot[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    assert proc.returncode == 0
