"""Where a channel's samples come from: each source runs in its own thread and hands chunks of
samples to the runtime's queue, so a slow or blocking source (stdin, a serial port) never stalls
the others, and a replay paces itself."""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, TextIO

import numpy as np

from faultedge.edge.streaming import parse_samples
from faultedge.errors import DataError

Emit = Callable[[str, np.ndarray], None]  # (channel, samples)
RECORDING_SUFFIXES = (".mat", ".npy", ".wav", ".csv", ".txt")


def read_recording(path: Path) -> np.ndarray:
    """A whole recording as float samples: CWRU .mat (drive end), .npy, .wav (first channel) or text/.csv."""
    if not path.exists():
        raise DataError(f"{path}: no such recording")
    suffix = path.suffix.lower()
    if suffix not in RECORDING_SUFFIXES:
        raise DataError(f"{path}: unsupported recording type {suffix!r}; use one of {', '.join(RECORDING_SUFFIXES)}")
    if suffix == ".wav":
        from scipy.io import wavfile

        try:
            _, data = wavfile.read(path)
        except ValueError as exc:
            raise DataError(f"{path}: not a readable .wav file ({exc})") from None
        data = data[:, 0] if data.ndim == 2 else data
        return np.asarray(data, dtype=np.float64)
    from faultedge.edge.predictor import read_recording as read_file

    return np.asarray(read_file(path), dtype=np.float64).reshape(-1)


@dataclass
class SourceStats:
    """What a source reports besides samples: skipped input, reconnects, and why it stopped."""

    malformed: int = 0
    reconnects: int = 0
    error: str | None = None


@dataclass
class Source:
    """A named channel. `run` hands its samples to `emit` until the source ends or `stop` is set."""

    channel: str
    stats: SourceStats = field(default_factory=SourceStats, init=False)

    def run(self, emit: Emit, stop: threading.Event) -> None:
        raise NotImplementedError


@dataclass
class Replay(Source):
    """A recording replayed in chunks: at its sample rate (`realtime`) or as fast as the runtime takes it."""

    samples: np.ndarray = field(default_factory=lambda: np.zeros(0))
    rate_hz: float = 12000.0
    realtime: bool = False
    chunk: int = 256
    loops: int = 1

    def run(self, emit: Emit, stop: threading.Event) -> None:
        t0, sent = time.monotonic(), 0
        for _ in range(self.loops):
            for i in range(0, len(self.samples), self.chunk):
                if stop.is_set():
                    return
                part = self.samples[i : i + self.chunk]
                if self.realtime:  # pace by the samples sent so far, so the rate does not drift
                    wait = t0 + sent / self.rate_hz - time.monotonic()
                    if wait > 0:
                        stop.wait(wait)
                emit(self.channel, part)
                sent += len(part)


@dataclass
class TextLines(Source):
    """Samples as text lines (one or more numbers per line), from stdin or any text stream. A malformed
    line is counted and skipped with a warning, never a crash; `chunk` samples go out together."""

    stream: TextIO = field(default_factory=lambda: sys.stdin)
    chunk: int = 256
    warn: Callable[[str], None] = field(default=lambda msg: print(msg, file=sys.stderr))

    def lines(self, stop: threading.Event) -> Iterator[str]:
        return iter(self.stream.readline, "")  # "" is the end of the stream

    def run(self, emit: Emit, stop: threading.Event) -> None:
        pending: list[np.ndarray] = []
        n = 0
        for number, line in enumerate(self.lines(stop), 1):
            if stop.is_set():
                break
            if not line.strip():
                continue
            values = parse_samples(line)
            if values is None:
                self.stats.malformed += 1
                self.warn(f"warning: {self.channel}: line {number} is not a list of numbers, skipped: {line.strip()[:60]!r}")
                continue
            pending.append(values)
            n += len(values)
            if n >= self.chunk:
                emit(self.channel, np.concatenate(pending))
                pending, n = [], 0
        if pending:
            emit(self.channel, np.concatenate(pending))


@dataclass
class SerialLines(TextLines):
    """Text sample lines from a serial port (pyserial): an ADC bridge printing samples. A port that
    disconnects or cannot be opened is retried with exponential backoff (up to `backoff_max` s), each
    attempt reported; the source ends only when the runtime stops."""

    port: str = ""
    baud: int = 115200
    backoff_max: float = 30.0
    connected: threading.Event = field(default_factory=threading.Event, init=False)  # set while the port is open

    def lines(self, stop: threading.Event) -> Iterator[str]:
        while not stop.is_set():  # an empty read is a timeout here, not the end
            line = self._port.readline()
            if line:
                yield line.decode("ascii", errors="replace")

    def run(self, emit: Emit, stop: threading.Event) -> None:
        import serial

        delay = 0.5
        while not stop.is_set():
            try:
                with serial.Serial(self.port, self.baud, timeout=0.2) as self._port:
                    delay = 0.5
                    self.connected.set()
                    super().run(emit, stop)
            except (serial.SerialException, OSError) as exc:
                self.connected.clear()
                self.stats.reconnects += 1
                self.stats.error = str(exc)
                self.warn(f"warning: {self.channel}: serial port {self.port}: {exc}; retrying in {delay:g} s")
            stop.wait(delay)
            delay = min(2 * delay, self.backoff_max)
