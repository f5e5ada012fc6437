"""A serial port kept open across failures (pyserial), shared by every serial user of the monitor: text
sample lines, a board's replies and the FPGA back end. A port that cannot be opened, goes away, or whose
device misbehaves (`LinkError`: a board that stops answering, a malformed reply) is closed, the failure
reported and counted, and the port reopened after an exponential backoff (0.5 s doubling to
`backoff_max`) until the monitor stops. The backoff starts again from 0.5 s once the device delivers."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

from faultedge.errors import DataError

BACKOFF_MIN_S = 0.5
T = TypeVar("T")


class LinkError(DataError):
    """The device on a port answers wrongly or not at all: the port is reopened (and the device's state with it)."""


@dataclass
class LinkStats:
    """What a serial user reports besides its data: skipped input (lines or reply frames), reconnects, the last failure."""

    malformed: int = 0
    reconnects: int = 0
    error: str | None = None


class SerialLink:
    def __init__(self, port: str, baud: int, what: str, warn: Callable[[str], None], stats: LinkStats,
                 backoff_max: float = 30.0, on_open: Callable[[Any], None] | None = None) -> None:
        self.port, self.baud, self.what, self.warn, self.stats = port, baud, what, warn, stats
        self.backoff_max, self.on_open = backoff_max, on_open
        self.connected = threading.Event()  # set while the port is open
        self._port: Any = None
        self._delay = BACKOFF_MIN_S

    def call(self, stop: threading.Event, use: Callable[[Any], T]) -> T | None:
        """`use(port)` on the open port (opened first if need be); after a failure it runs again on a reopened
        port, so `use` must be safe to repeat. Its result, or None once `stop` is set."""
        import serial

        while not stop.is_set():
            try:
                if self._port is None:
                    self._port = serial.Serial(self.port, self.baud, timeout=0.2)
                    self.connected.set()
                    if self.on_open is not None:
                        self.on_open(self._port)
                result = use(self._port)
                self.alive()
                return result
            except (OSError, LinkError) as exc:  # pyserial's SerialException is an OSError
                self.close()
                self.stats.reconnects += 1
                self.stats.error = str(exc)
                self.warn(f"warning: {self.what}: {self.port}: {exc}; retrying in {self._delay:g} s")
                stop.wait(self._delay)
                self._delay = min(2 * self._delay, self.backoff_max)
        return None

    def alive(self) -> None:
        """The device delivered: the next failure is retried after the shortest backoff again."""
        self._delay = BACKOFF_MIN_S

    def close(self) -> None:
        self.connected.clear()
        if self._port is not None:
            port, self._port = self._port, None
            try:
                port.close()
            except OSError:
                pass
