"""The monitor's loop: sources hand sample chunks to a queue from their own threads; the loop cuts
each channel's windows on the hop, classifies every window of every channel that is ready in one
batch (many channels cost one back-end call), and turns each channel's probabilities into events.
A stream back end (the FPGA) takes its one channel's samples instead and answers per window; a
source that classifies itself (a board with its own ADC) hands on verdicts, which skip both.
SIGINT and SIGTERM stop the sources, flush the outputs and end the loop cleanly."""

from __future__ import annotations

import queue
import signal
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np

from faultedge.edge.streaming import AlarmSettings, AlarmTracker, Windower, default_hop
from faultedge.errors import DataError
from faultedge.monitor.backends import Backend, Scores, StreamBackend
from faultedge.monitor.outputs import Output
from faultedge.monitor.sources import Source

LATENCIES_KEPT = 100_000  # hop-to-event latencies kept for the percentiles (memory stays flat over long runs)
_END = None  # a source's last queue item
Hop = tuple[str, "int | None", float]  # channel, the sample at its window's end (None: counted on from the hops), arrival


@dataclass(frozen=True)
class MonitorSettings:
    hop: int | None = None  # samples between windows; None: the board's, else a quarter of the back end's window
    alarms: AlarmSettings = AlarmSettings()
    normal: str = "normal"
    queue_chunks: int = 4096  # chunks waiting at most (a faster source then waits: back-pressure, not memory)
    batch_chunks: int = 1024  # chunks taken from the queue per back-end call at most


def choose_hop(requested: int | None, window: int, fixed: int | None = None) -> int:
    """The hop: `fixed` when a board windows the stream (its hop is built in), else the one asked for, else a quarter window."""
    if fixed is not None:
        if requested not in (None, fixed):
            raise DataError(f"--hop {requested}: the board's accelerator windows its stream every {fixed} samples (its build report); "
                            "leave --hop out")
        return fixed
    hop = requested or default_hop(window)
    if not 1 <= hop <= window:
        raise DataError(f"--hop {requested}: expected 1..{window} (the run's window)")
    return hop


class Monitor:
    def __init__(self, backend: Backend | StreamBackend | None, sources: Sequence[Source], outputs: Sequence[Output],
                 settings: MonitorSettings = MonitorSettings()) -> None:
        """`backend` classifies the sample sources' windows; None when every source classifies itself."""
        self.owner = {name: s for s in sources for name in s.names}
        names = [name for s in sources for name in s.names]
        if not names:
            raise DataError("the monitor needs at least one source")
        if len(set(names)) != len(names):
            raise DataError(f"channel names must be unique, got {names}")
        sampled = [name for s in sources if not s.classifies for name in s.names]
        boards = [s for s in sources if s.classifies]
        if sampled and backend is None:
            raise DataError(f"channels {', '.join(sampled)} give samples: they need a back end to classify them")
        self.streaming = hasattr(backend, "stream")
        if self.streaming and len(sampled) != 1:
            raise DataError(f"the {backend.name} back end streams one channel to the board (its accelerator holds one stream), "
                            f"got {len(sampled)}: {', '.join(sampled)}")
        spec = backend or boards[0]
        self.window, self.labels = spec.window, tuple(spec.labels)
        fixed = [b.hop for b in ([backend] if self.streaming else []) + boards]
        self.hop = choose_hop(settings.hop, self.window, fixed[0] if fixed else None)
        for b in boards:
            if (b.window, b.hop, tuple(b.labels)) != (self.window, self.hop, self.labels):
                raise DataError(f"{b.channel}: the board classifies {b.window}-sample windows every {b.hop} samples as {list(b.labels)}, "
                                f"the monitor {self.window} every {self.hop} as {list(self.labels)}")
        self.backend, self.sources, self.outputs, self.settings = backend, list(sources), list(outputs), settings
        self.windowers = {n: Windower(self.window, self.hop) for n in sampled}
        self.trackers = {n: AlarmTracker(n, self.labels, settings.normal, settings.alarms) for n in names}
        self._queue: queue.Queue = queue.Queue(maxsize=settings.queue_chunks)
        self.stop = threading.Event()
        self.latencies_us: deque[float] = deque(maxlen=LATENCIES_KEPT)
        self.windows = 0
        self.changes: list[dict[str, Any]] = []

    def _emit(self, channel: str, payload: Any) -> None:
        while not self.stop.is_set():
            try:
                self._queue.put((channel, payload, time.perf_counter()), timeout=0.1)
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
                active -= sum(1 for _, payload, _ in items if payload is _END)
                self._classify([it for it in items if it[1] is not _END])
        finally:
            self.stop.set()
            if self.streaming:
                self.backend.close()
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

    def _classify(self, items: list[tuple[str, Any, float]]) -> None:
        """Samples through the back end, then the boards' own verdicts: within a channel the hops stay in order."""
        parts = self._score_samples([it for it in items if not isinstance(it[1], Scores)])
        parts += [([(channel, None, arrived)] * len(verdicts), verdicts) for channel, verdicts, arrived in items if isinstance(verdicts, Scores)]
        for hops, scores in parts:
            self._publish(hops, scores)

    def _score_samples(self, items: list[tuple[str, np.ndarray, float]]) -> list[tuple[list[Hop], Scores]]:
        parts: list[tuple[list[Hop], Scores]] = []
        batch: list[Hop] = []
        windows: list[np.ndarray] = []
        latest: dict[str, np.ndarray] = {}  # the page draws each channel's newest spectrum
        for channel, samples, arrived in items:
            cut = self.windowers[channel].push(samples)
            hops = [(channel, start + self.window, arrived) for start, _ in cut]
            if cut:
                latest[channel] = cut[-1][1]
            if not self.streaming:
                batch += hops
                windows += [w for _, w in cut]
                continue
            scores = self.backend.stream(samples, self.stop)  # the board cuts the same windows as the windower
            if scores is None:  # stopped while waiting for the board
                break
            if len(scores) != len(hops):
                raise DataError(f"{self.backend.name}: {len(scores)} replies for {len(hops)} windows: the board windows its stream differently")
            parts.append((hops, scores))
        if windows:
            parts.append((batch, self.backend.scores(np.stack(windows))))
        for out in self.outputs:
            if hasattr(out, "spectrum"):
                for channel, w in latest.items():
                    out.spectrum(channel, w)
        return parts

    def _publish(self, hops: list[Hop], scores: Scores) -> None:
        self.windows += len(hops)
        for i, (channel, end, arrived) in enumerate(hops):
            tracker = self.trackers[channel]
            hop, change = tracker.update(scores.probabilities[i], end if end is not None else self.window + self.hop * tracker.hops)
            if scores.logits is not None:  # the integer model's own figures for this window, to check a board against golden
                hop["window_class"], hop["logits"] = self.labels[int(scores.classes[i])], scores.logits[i].tolist()
            for out in self.outputs:
                out.emit(hop)
                if change is not None:
                    out.emit(change)
            if change is not None:
                self.changes.append(change)
            self.latencies_us.append((time.perf_counter() - arrived) * 1e6)

    def summary(self, seconds: float) -> dict[str, Any]:
        lat = np.array(self.latencies_us) if self.latencies_us else np.zeros(1)
        out = {"backend": self.backend.name if self.backend else None, "window": self.window, "hop": self.hop,
               "alarm_settings": self.settings.alarms.to_dict(), "seconds": round(seconds, 3), "windows": self.windows,
               "windows_per_s": round(self.windows / max(seconds, 1e-9), 1),
               "latency_us": {"p50": round(float(np.percentile(lat, 50)), 1), "p99": round(float(np.percentile(lat, 99)), 1)},
               "channels": {name: self._channel_summary(name) for name in self.trackers}, "alarm_events": len(self.changes)}
        if self.streaming:
            out["board"] = {"streams": self.backend.streams, **asdict(self.backend.stats)}
        return out

    def _channel_summary(self, name: str) -> dict[str, Any]:
        t, s = self.trackers[name], self.owner[name]
        return {"hops": t.hops, "state": t.state, "alarm": t.alarm_class, f"malformed_{s.unit}": s.stats.malformed,
                "reconnects": s.stats.reconnects, "error": s.stats.error}
