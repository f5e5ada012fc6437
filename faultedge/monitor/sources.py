"""Where the channels' samples come from: each source runs in its own thread and hands chunks of
samples to the runtime's queue, so a slow or blocking source (stdin, a serial port) never stalls
the others, and a replay paces itself.

A source carries one channel, or several interleaved in one stream (`channels`): a frame is one value
per channel, in order (a CSV row with a column per channel, a multi-channel .wav or .npy); each
channel is handed on by itself, with its own windows, decisions and alarm."""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterator, TextIO

import numpy as np

from faultedge.edge.streaming import parse_samples
from faultedge.errors import DataError
from faultedge.monitor.link import LinkStats, SerialLink

Emit = Callable[[str, Any], None]  # (channel, samples or, from a board that classifies, its Scores)
RECORDING_SUFFIXES = (".mat", ".npy", ".wav", ".csv", ".txt")


def read_frames(path: Path, n_channels: int = 1) -> np.ndarray:
    """A whole recording as float frames (n, n_channels): CWRU .mat (its drive end: one channel), .npy, .wav or
    text/.csv. One channel takes a .wav's first channel and any other file's values in order; several take a
    .wav's channels, or a table with a column per channel, or values interleaved frame by frame."""
    if not path.exists():
        raise DataError(f"{path}: no such recording")
    suffix = path.suffix.lower()
    if suffix not in RECORDING_SUFFIXES:
        raise DataError(f"{path}: unsupported recording type {suffix!r}; use one of {', '.join(RECORDING_SUFFIXES)}")
    if suffix == ".mat" and n_channels > 1:
        raise DataError(f"{path}: a CWRU .mat recording gives one channel (its drive end), not {n_channels}")
    if suffix == ".wav":
        from scipy.io import wavfile

        try:
            _, data = wavfile.read(path)
        except ValueError as exc:
            raise DataError(f"{path}: not a readable .wav file ({exc})") from None
        data = data.reshape(len(data), -1)
        if n_channels == 1:
            data = data[:, :1]
        elif data.shape[1] != n_channels:
            raise DataError(f"{path}: {data.shape[1]} audio channel(s), but {n_channels} channel names were given")
        return np.asarray(data, dtype=np.float64)
    from faultedge.edge.predictor import read_recording as read_file

    data = np.asarray(read_file(path), dtype=np.float64)
    columns = data.shape[1] if data.ndim == 2 else 1
    if n_channels > 1 and (columns not in (1, n_channels) or data.size % n_channels):
        raise DataError(f"{path}: {data.size} values in {columns} column(s) are not whole frames of {n_channels} channels "
                        "(a column per channel, or the values interleaved frame by frame)")
    return data.reshape(-1, n_channels)


def read_recording(path: Path) -> np.ndarray:
    """A whole recording as one channel of float samples (read_frames' rules)."""
    return read_frames(path)[:, 0]


@dataclass
class Source:
    """A named source. `run` hands its channels' samples to `emit` until the source ends or `stop` is set.
    `channels`: the names of the channels interleaved in its stream; empty, it is the one channel `channel`."""

    channel: str
    channels: tuple[str, ...] = ()
    stats: LinkStats = field(default_factory=LinkStats, init=False)
    unit: ClassVar[str] = "lines"  # what `stats.malformed` counts
    classifies: ClassVar[bool] = False  # True: it hands on each hop's verdict (a board that classifies), not samples

    @property
    def names(self) -> tuple[str, ...]:
        return self.channels or (self.channel,)

    def run(self, emit: Emit, stop: threading.Event) -> None:
        raise NotImplementedError

    def _send(self, emit: Emit, values: np.ndarray) -> None:
        """Whole frames (n, channels) or their values in order -> each channel's samples."""
        if not self.channels:
            emit(self.channel, values.reshape(-1))
            return
        frames = values.reshape(-1, len(self.channels))
        for i, name in enumerate(self.channels):
            emit(name, frames[:, i].copy())


@dataclass
class Replay(Source):
    """A recording replayed in chunks of `chunk` frames: at its sample rate (`realtime`) or as fast as the
    runtime takes it. `samples`: (n,) or (n, 1) for one channel, (n, channels) for several (read_frames)."""

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
                if self.realtime:  # pace by the frames sent so far, so the rate does not drift
                    wait = t0 + sent / self.rate_hz - time.monotonic()
                    if wait > 0:
                        stop.wait(wait)
                self._send(emit, part)
                sent += len(part)


@dataclass
class TextLines(Source):
    """Samples as text lines (one or more numbers per line, whole frames of the channels), from stdin or any
    text stream. A malformed line is counted and skipped with a warning, never a crash; `chunk` frames go
    out together."""

    stream: TextIO = field(default_factory=lambda: sys.stdin)
    chunk: int = 256
    warn: Callable[[str], None] = field(default=lambda msg: print(msg, file=sys.stderr))

    def lines(self, stop: threading.Event) -> Iterator[str]:
        return iter(self.stream.readline, "")  # "" is the end of the stream

    def run(self, emit: Emit, stop: threading.Event) -> None:
        width = len(self.names)
        pending: list[np.ndarray] = []
        n = 0
        for number, line in enumerate(self.lines(stop), 1):
            if stop.is_set():
                break
            if not line.strip():
                continue
            values = parse_samples(line)
            if values is None or len(values) % width:
                self.stats.malformed += 1
                what = "a list of numbers" if values is None else f"whole frames of {width} channels ({len(values)} numbers)"
                self.warn(f"warning: {self.channel}: line {number} is not {what}, skipped: {line.strip()[:60]!r}")
                continue
            pending.append(values)
            n += len(values)
            if n >= self.chunk * width:
                self._send(emit, np.concatenate(pending))
                pending, n = [], 0
        if pending:
            self._send(emit, np.concatenate(pending))


@dataclass
class SerialLines(TextLines):
    """Text sample lines from a serial port (pyserial): an ADC bridge printing samples. A port that
    disconnects or cannot be opened is retried (faultedge.monitor.link); the source ends only when the
    runtime stops."""

    port: str = ""
    baud: int = 115200
    backoff_max: float = 30.0
    connected: threading.Event = field(init=False)  # set while the port is open

    def __post_init__(self) -> None:
        self._link = SerialLink(self.port, self.baud, self.channel, self.warn, self.stats, self.backoff_max)
        self.connected = self._link.connected

    def lines(self, stop: threading.Event) -> Iterator[str]:
        while not stop.is_set():  # an empty read is a timeout here, not the end
            line = self._port.readline()
            if line:
                self._link.alive()
                yield line.decode("ascii", errors="replace")

    def run(self, emit: Emit, stop: threading.Event) -> None:
        def read(port: Any) -> None:
            self._port = port
            TextLines.run(self, emit, stop)

        try:
            self._link.call(stop, read)
        finally:
            self._link.close()
