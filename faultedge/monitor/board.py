"""The FPGA board in the monitor: a sample-in accelerator (raw samples in, FFT front end on chip) behind
its UART (faultedge.fpga.protocol), in either of the two ways `faultedge fpga build` makes it:

    --source uart   FpgaBackend: the monitor streams a channel's samples to the board, one reply per hop
    --source spi    BoardReplies: the board samples its own ADC; the monitor only reads its replies

Either way the board's build report (RUN/fpga/BOARD/report.json) gives the protocol (window, hop,
sample and logit widths) and the baud rate, and the run gives the integer IR the board runs: its
labels, its sample quantisation and its logit scale. `BoardLink` loads and checks both, so a board
built from another version of the run is refused rather than misread. A reply's integer logits
become probabilities as the golden back end's do (backends.integer_scores).

The board resets its stream after a pause longer than IDLE_TIMEOUT_S, so the back end keeps the
samples since the first window not yet answered: after a pause (a slow source) or a failure it waits
until the board has surely reset, starts a new stream with them and loses no window.
"""

from __future__ import annotations

import hashlib
import sys
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from faultedge.errors import DataError, RunDirError
from faultedge.fpga.protocol import IDLE_TIMEOUT_S, REPLY_SYNC, Protocol, ProtocolError, Reply
from faultedge.ir.frontend import quantize_samples
from faultedge.monitor.backends import Scores, integer_scores
from faultedge.monitor.link import LinkError, LinkStats, SerialLink
from faultedge.monitor.sources import Emit, Source
from faultedge.runs import RunDir, read_json

if TYPE_CHECKING:
    from faultedge.ir.model import IRModel

BYTE_BITS = 10  # 8N1: start bit, 8 data bits, stop bit
RESUME_GAP_S = IDLE_TIMEOUT_S / 2  # a line quiet for less than this still carries the board's stream
RESET_WAIT_S = 2 * IDLE_TIMEOUT_S  # quiet for this long, the board has surely reset its stream


def warn_stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class BoardLink:
    """A built board as the monitor talks to it: its protocol, baud and sample source from its build report,
    and the integer IR the run holds for it."""

    board: str
    ir: IRModel
    protocol: Protocol
    baud: int
    source: dict[str, Any]  # the report's "source": {"kind": "uart"} or {"kind": "spi", "rate_hz": ..., ...}

    @property
    def window(self) -> int:
        return self.protocol.window

    @property
    def hop(self) -> int:
        return self.protocol.hop

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.ir.classes)

    @classmethod
    def load(cls, run: RunDir, board: str | None = None) -> "BoardLink":
        """The design point's board unless `board` names another; every figure the board and the run both
        state must agree, and the board must run the Verilog the run's hdl/ holds now."""
        from faultedge.hdl.design import read_design
        from faultedge.ir.files import FPGA_DIR, HDL_REPORT, VERILOG
        from faultedge.ir.model import IRModel

        design = read_design(run)
        if not design.sample_in:
            raise RunDirError(f"{run.path}: the run's accelerator takes features (design frontend {design.frontend!r}); the monitor streams "
                              f"raw samples: run `faultedge hdl {run.path} --frontend pipelined` and `faultedge fpga build {run.path}`")
        name = board or design.board
        path = run / FPGA_DIR / name / "report.json"
        if not path.exists():
            raise RunDirError(f"{path}: no build for board {name}: run `faultedge fpga build {run.path} --board {name}` first")
        report, hdl = read_json(path), read_json(run.require(HDL_REPORT))
        if "uart" not in report:
            raise RunDirError(f"{path}: the build has no UART entry (it did not fit or meet timing): no board to talk to")
        proto = Protocol.of(report["uart"])
        ir = IRModel.load(run.require(design.artifacts.ir))
        fe = ir.frontend
        if fe is None:
            raise RunDirError(f"{run / design.artifacts.ir}: this IR has no integer front end (raw samples in); re-run `faultedge quantize {run.path}`")
        ours = {"window": fe.window, "hop": fe.hop, "sample_bits": fe.sample_bits, "n_classes": len(ir.classes),
                "logit_bits": int(hdl["logit_bits"])}
        theirs = {"window": proto.window, "hop": proto.hop, "sample_bits": proto.input_bits, "n_classes": proto.n_classes,
                  "logit_bits": proto.logit_bits}
        differ = [f"{k} {theirs[k]} (board) != {ours[k]} (run)" for k in ours if theirs[k] != ours[k]]
        if differ:
            raise RunDirError(f"{path}: the board was built for another design than the run's: {', '.join(differ)}; "
                              f"rebuild with `faultedge fpga build {run.path} --board {name}`")
        verilog = hashlib.sha256(run.require(VERILOG).read_text(encoding="utf-8").encode()).hexdigest()
        if report.get("design", {}).get("verilog_sha256") != verilog:
            raise RunDirError(f"{path}: the board was built from other Verilog than the run's hdl/ holds now (`faultedge hdl` ran since); "
                              f"rebuild with `faultedge fpga build {run.path} --board {name}`")
        return cls(name, ir, proto, int(report["uart"]["baud"]), report.get("source", {"kind": "uart"}))

    def require_source(self, kind: str) -> None:
        """The way samples reach this board (its build's --source) must be the one the monitor was asked to use."""
        if self.source.get("kind") == kind:
            return
        if kind == "uart":
            raise DataError(f"board {self.board} samples its own SPI ADC (built with --source spi): its UART only carries replies; "
                            "read them with --board-replies PORT instead of --backend fpga")
        raise DataError(f"board {self.board} takes its samples over the UART (built with --source uart): stream a source to it with "
                        "--backend fpga --port PORT instead of --board-replies")

    def scores(self, replies: list[Reply]) -> Scores:
        return integer_scores(self.ir, np.array([r.logits for r in replies]), np.array([r.cls for r in replies]))


def _decode(proto: Protocol, frame: bytes) -> Reply:
    try:
        return proto.decode_reply(frame)
    except ProtocolError as exc:
        raise LinkError(f"malformed reply ({exc})") from None


class FpgaBackend:
    """One channel's samples, quantised as the golden back end quantises them, streamed to a board built with
    `--source uart`; its reply per hop gives that hop's Scores. A board that does not answer within
    `reply_timeout` s (beyond the time the samples take on the line) or answers malformed is reported, the
    port reopened and the stream started again (faultedge.monitor.link)."""

    def __init__(self, link: BoardLink, port: str, baud: int | None = None, reply_timeout: float = 1.0,
                 warn: Callable[[str], None] = warn_stderr, backoff_max: float = 30.0) -> None:
        link.require_source("uart")
        self.link, self.baud, self.reply_timeout = link, baud or link.baud, reply_timeout
        self.window, self.hop, self.labels = link.window, link.hop, link.labels
        self.name = f"fpga {link.board} ({port})"
        self.stats = LinkStats()
        self.streams = 0
        self._serial = SerialLink(port, self.baud, "fpga", warn, self.stats, backoff_max, on_open=self._opened)
        self._pending = np.zeros(0, dtype=np.int64)  # the samples since the first window not yet answered
        self._live = False  # the board holds a stream that has had exactly `_pending`
        self._wire_end = time.monotonic()  # when the last byte sent has left on the line (estimated)

    def _opened(self, port: Any) -> None:
        """A newly opened port: the board may be in the middle of someone's stream."""
        self._live = False
        self._wire_end = max(self._wire_end, time.monotonic())

    def stream(self, samples: np.ndarray, stop: threading.Event) -> Scores | None:
        fresh = quantize_samples(self.link.ir.frontend, samples)
        self._pending = np.concatenate([self._pending, fresh])
        replies = self._serial.call(stop, lambda port: self._exchange(port, fresh))
        if replies is None:
            return None
        self._pending = self._pending[len(replies) * self.hop :]
        return self.link.scores(replies)

    def _exchange(self, port: Any, fresh: np.ndarray) -> list[Reply]:
        proto = self.link.protocol
        if self._live and time.monotonic() - self._wire_end < RESUME_GAP_S:
            payload = proto.encode_samples(fresh)[1:]  # the board's stream goes on: the samples without a new sync byte
        else:  # make sure the board has reset, then stream again from the first window not yet answered
            time.sleep(max(0.0, self._wire_end + RESET_WAIT_S - time.monotonic()))
            port.reset_input_buffer()  # anything left of the old stream
            payload = proto.encode_samples(self._pending)
            self.streams += 1
        self._live = False  # until every reply is in: a failure leaves the board's stream unknown
        sent = time.monotonic()
        port.write(payload)
        self._wire_end = max(self._wire_end, sent) + len(payload) * BYTE_BITS / self.baud
        replies = [self._reply(port) for _ in range(proto.replies_for(len(self._pending)))]
        self._live = True
        return replies

    def _reply(self, port: Any) -> Reply:
        n = self.link.protocol.reply_bytes
        port.timeout = max(0.0, self._wire_end - time.monotonic()) + n * BYTE_BITS / self.baud + self.reply_timeout
        frame = bytes(port.read(n))
        if len(frame) < n:
            raise LinkError(f"no reply from the board within {port.timeout:.3g} s ({len(frame)} of {n} bytes): is it programmed with this "
                            f"run's bitstream, at {self.baud} baud, on this port?")
        try:
            return _decode(self.link.protocol, frame)
        except LinkError:
            self.stats.malformed += 1
            raise

    def close(self) -> None:
        self._serial.close()


@dataclass(kw_only=True)
class BoardReplies(Source):
    """The per-hop replies of a board that samples its own SPI ADC (built with `--source spi`; its UART carries
    only replies): each reply is that hop's Scores, handed on as they come. Joining the stream mid-frame is
    expected; a malformed frame after that is counted and skipped (the next sync byte starts the next frame),
    and a board silent for `reply_timeout` s beyond a hop's time is reported and the port reopened."""

    link: BoardLink
    port: str
    baud: int | None = None
    reply_timeout: float = 1.0
    warn: Callable[[str], None] = warn_stderr
    backoff_max: float = 30.0
    unit = "replies"
    classifies = True

    def __post_init__(self) -> None:
        if self.channels:
            raise DataError(f"{self.channel}: a board's replies are one channel")
        self.link.require_source("spi")
        self._serial = SerialLink(self.port, self.baud or self.link.baud, self.channel, self.warn, self.stats, self.backoff_max)

    @property
    def window(self) -> int:
        return self.link.window

    @property
    def hop(self) -> int:
        return self.link.hop

    @property
    def labels(self) -> tuple[str, ...]:
        return self.link.labels

    def run(self, emit: Emit, stop: threading.Event) -> None:
        try:
            self._serial.call(stop, lambda port: self._read(port, emit, stop))
        finally:
            self._serial.close()

    def _read(self, port: Any, emit: Emit, stop: threading.Event) -> None:
        proto = self.link.protocol
        n = proto.reply_bytes
        rate = float(self.link.source.get("rate_hz") or 0)
        port.timeout = self.reply_timeout + (proto.hop / rate if rate > 0 else 0.0)
        buf = bytearray()
        synced = False  # until the first good frame
        while not stop.is_set():
            start = buf.find(REPLY_SYNC)
            del buf[: start if start >= 0 else len(buf)]
            if len(buf) < n:
                got = port.read(n - len(buf))
                if not got:
                    raise LinkError(f"no reply from the board for {port.timeout:.3g} s: is it programmed with this run's bitstream "
                                    f"(--source spi), at {self._serial.baud} baud, and its ADC connected?")
                buf += got
                continue
            try:
                reply = _decode(proto, bytes(buf[:n]))
            except LinkError as exc:
                del buf[:1]
                if synced:
                    self.stats.malformed += 1
                    self.warn(f"warning: {self.channel}: {exc}; skipped")
                continue
            del buf[:n]
            synced = True
            self._serial.alive()
            emit(self.channel, self.link.scores([reply]))
