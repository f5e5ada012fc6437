"""The live page (`faultedge monitor --serve PORT`): per channel the current spectrum, the class
probabilities over the last hops, the alarm state and its history. One HTML file with its script
inline (no build step, no CDN), updated by server-sent events; the standard library's threaded
HTTP server runs it beside the monitor."""

from __future__ import annotations

import json
import queue
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any

import numpy as np

from faultedge.errors import DataError

HISTORY_HOPS = 240  # probability rows kept per channel for the page
STATE_EVENTS = 50  # alarm events kept per channel
SPECTRUM_BINS = 128
CLIENT_QUEUE = 1000  # events a slow browser may lag behind before it misses some


def spectrum_db(window: np.ndarray, bins: int = SPECTRUM_BINS) -> list[float]:
    """A window's magnitude spectrum in dB, max-pooled to `bins` bars (what the page draws)."""
    mag = np.abs(np.fft.rfft(window))[1:]
    mag = mag[: len(mag) // bins * bins].reshape(bins, -1).max(axis=1)
    return [round(float(v), 1) for v in 20 * np.log10(mag + 1e-12)]


class LivePage:
    def __init__(self, port: int, labels: tuple[str, ...], host: str = "127.0.0.1") -> None:
        self.labels = labels
        self._lock = threading.Lock()
        self._channels: dict[str, dict[str, Any]] = {}
        self._clients: list[queue.Queue] = []
        page = resources.files("faultedge.monitor").joinpath("page.html").read_text(encoding="utf-8")
        self._page = page.encode("utf-8")
        try:
            self._server = ThreadingHTTPServer((host, port), self._handler())
        except OSError as exc:
            raise DataError(f"--serve {port}: cannot listen on {host}:{port} ({exc})") from None
        self._server.daemon_threads = True
        self.url = f"http://{host}:{self._server.server_address[1]}/"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="live page")
        self._thread.start()

    def _channel(self, name: str) -> dict[str, Any]:
        return self._channels.setdefault(name, {"state": "normal", "alarm": None, "spectrum": [], "probabilities": deque(maxlen=HISTORY_HOPS),
                                                "events": deque(maxlen=STATE_EVENTS)})

    def spectrum(self, channel: str, window: np.ndarray) -> None:
        bars = spectrum_db(window)
        with self._lock:
            self._channel(channel)["spectrum"] = bars
        self._broadcast({"type": "spectrum", "channel": channel, "spectrum": bars})

    def emit(self, event: dict[str, Any]) -> None:
        with self._lock:
            ch = self._channel(event["channel"])
            if event["type"] == "hop":
                ch["probabilities"].append(event["probabilities"])
                ch["state"], ch["alarm"] = event["state"], event["alarm"]
            else:
                ch["events"].append(event)
                ch["state"], ch["alarm"] = ("alarm", event["class"]) if event["type"] == "alarm" else ("normal", None)
        self._broadcast(event)

    def _broadcast(self, event: dict[str, Any]) -> None:
        data = json.dumps(event, separators=(",", ":"))
        with self._lock:
            clients = list(self._clients)
        for q in clients:
            try:
                q.put_nowait(data)
            except queue.Full:
                pass

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"labels": list(self.labels),
                    "channels": {n: {**c, "probabilities": list(c["probabilities"]), "events": list(c["events"])} for n, c in self._channels.items()}}

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        page = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # the monitor's stdout is for events
                pass

            def _send(self, body: bytes, kind: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path == "/":
                    self._send(page._page, "text/html; charset=utf-8")
                elif self.path == "/snapshot":
                    self._send(json.dumps(page.snapshot()).encode(), "application/json")
                elif self.path == "/events":
                    self._stream()
                else:
                    self.send_error(404)

            def _stream(self) -> None:
                q: queue.Queue = queue.Queue(maxsize=CLIENT_QUEUE)
                with page._lock:
                    page._clients.append(q)
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                try:
                    while True:
                        try:
                            data = q.get(timeout=10)
                            self.wfile.write(f"data: {data}\n\n".encode())
                        except queue.Empty:
                            self.wfile.write(b": keep-alive\n\n")
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    with page._lock:
                        page._clients.remove(q)

        return Handler
