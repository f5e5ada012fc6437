"""The monitor's loop: sources hand sample chunks to a queue from their own threads; the loop cuts
each channel's windows on the hop, classifies every window of every channel that is ready in one
batch (many channels cost one back-end call), and turns each channel's probabilities into events.
SIGINT and SIGTERM stop the sources, flush the outputs and end the loop cleanly."""

from __future__ import annotations

import queue
import signal
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from faultedge.edge.streaming import AlarmSettings, AlarmTracker, Windower, default_hop
from faultedge.errors import DataError
from faultedge.monitor.backends import Backend
from faultedge.monitor.outputs import Output
from faultedge.monitor.sources import Source

LATENCIES_KEPT = 100_000  # hop-to-event latencies kept for the percentiles (memory stays flat over long runs)
_END = None  # a source's last queue item


@dataclass(frozen=True)
class MonitorSettings:
    hop: int | None = None  # samples between windows; None: a quarter of the back end's window
    alarms: AlarmSettings = AlarmSettings()
    normal: str = "normal"
    queue_chunks: int = 4096  # chunks waiting at most (a faster source then waits: back-pressure, not memory)
    batch_chunks: int = 1024  # chunks taken from the queue per back-end call at most


class Monitor:
    def __init__(self, backend: Backend, sources: Sequence[Source], outputs: Sequence[Output], settings: MonitorSettings = MonitorSettings()) -> None:
        names = [s.channel for s in sources]
        if not names:
            raise DataError("the monitor needs at least one source")
        if len(set(names)) != len(names):
            raise DataError(f"channel names must be unique, got {names}")
        self.backend, self.sources, self.outputs, self.settings = backend, list(sources), list(outputs), settings
        self.hop = settings.hop or default_hop(backend.window)
        self.windowers = {n: Windower(backend.window, self.hop) for n in names}
        self.trackers = {n: AlarmTracker(n, backend.labels, settings.normal, settings.alarms) for n in names}
        self._queue: queue.Queue = queue.Queue(maxsize=settings.queue_chunks)
        self.stop = threading.Event()
        self.latencies_us: deque[float] = deque(maxlen=LATENCIES_KEPT)
        self.windows = 0
        self.changes: list[dict[str, Any]] = []

    def _emit(self, channel: str, samples: np.ndarray) -> None:
        while not self.stop.is_set():
            try:
                self._queue.put((channel, samples, time.perf_counter()), timeout=0.1)
                return
            except queue.Full:
                continue

    def _source_thread(self, source: Source) -> None:
        try:
            source.run(self._emit, self.stop)
        except Exception as exc:  # a broken source is reported and ends; the others go on
            source.stats.error = f"{type(exc).__name__}: {exc}"
        finally:
            while True:
                try:
                    self._queue.put((source.channel, _END, 0.0), timeout=0.1)
                    break
                except queue.Full:
                    if self.stop.is_set():
                        break

    def run(self) -> dict[str, Any]:
        """Until every source has ended (or a signal arrives); returns the run's summary."""
        previous = {sig: signal.signal(sig, lambda *_: self.stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)} \
            if threading.current_thread() is threading.main_thread() else {}
        threads = [threading.Thread(target=self._source_thread, args=(s,), daemon=True, name=f"source {s.channel}") for s in self.sources]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        active = len(threads)
        try:
            while active and not self.stop.is_set():
                items = self._take()
                active -= sum(1 for _, samples, _ in items if samples is _END)
                self._classify([it for it in items if it[1] is not _END])
        finally:
            self.stop.set()
            for out in self.outputs:
                out.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return self.summary(time.perf_counter() - t0)

    def _take(self) -> list[tuple[str, Any, float]]:
        try:
            items = [self._queue.get(timeout=0.2)]
        except queue.Empty:
            return []
        while len(items) < self.settings.batch_chunks:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return items

    def _classify(self, items: list[tuple[str, np.ndarray, float]]) -> None:
        ready: list[tuple[str, int, float]] = []
        windows: list[np.ndarray] = []
        for channel, samples, arrived in items:
            for start, window in self.windowers[channel].push(samples):
                ready.append((channel, start, arrived))
                windows.append(window)
        if not windows:
            return
        probs = self.backend.probabilities(np.stack(windows))
        self.windows += len(windows)
        latest = {channel: w for (channel, _, _), w in zip(ready, windows)}  # the page draws each channel's newest spectrum
        for out in self.outputs:
            if hasattr(out, "spectrum"):
                for channel, w in latest.items():
                    out.spectrum(channel, w)
        for (channel, start, arrived), p in zip(ready, probs):
            hop, change = self.trackers[channel].update(p, start + self.backend.window)
            for out in self.outputs:
                out.emit(hop)
                if change is not None:
                    out.emit(change)
            if change is not None:
                self.changes.append(change)
            self.latencies_us.append((time.perf_counter() - arrived) * 1e6)

    def summary(self, seconds: float) -> dict[str, Any]:
        lat = np.array(self.latencies_us) if self.latencies_us else np.zeros(1)
        return {"backend": self.backend.name, "window": self.backend.window, "hop": self.hop, "alarm_settings": self.settings.alarms.to_dict(),
                "seconds": round(seconds, 3), "windows": self.windows, "windows_per_s": round(self.windows / max(seconds, 1e-9), 1),
                "latency_us": {"p50": round(float(np.percentile(lat, 50)), 1), "p99": round(float(np.percentile(lat, 99)), 1)},
                "channels": {s.channel: {"hops": self.trackers[s.channel].hops, "state": self.trackers[s.channel].state,
                                         "alarm": self.trackers[s.channel].alarm_class, "malformed_lines": s.stats.malformed,
                                         "reconnects": s.stats.reconnects, "error": s.stats.error} for s in self.sources},
                "alarm_events": len(self.changes)}
