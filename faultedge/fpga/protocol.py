"""The UART byte protocol of the board tops, and the host side of it (numpy only, no pyserial).

Request (host -> FPGA), one window:

    0xA5, then n_inputs values, each ceil(input_bits/8) bytes, little endian, two's complement

The values are the IR's integer inputs (`faultedge.quant.golden.quantize_input`), in the IR's
input order. Bytes before the 0xA5 are ignored; a request that stalls for longer than
`IDLE_TIMEOUT_S` mid-frame is dropped and the FPGA waits for a new 0xA5, so a host that lost
its place recovers by pausing.

Reply (FPGA -> host), one per request:

    0x5A, class (1 byte), n_classes logits each ceil(logit_bits/8) bytes little endian two's
    complement (class 0 first), checksum = sum of the class and logit bytes mod 256

8N1 framing at the board's baud rate (its profile; 115200 by default).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol as _Stream

import numpy as np

from faultedge.errors import FaultedgeError

REQUEST_SYNC = 0xA5
REPLY_SYNC = 0x5A
IDLE_TIMEOUT_S = 0.05


class ProtocolError(FaultedgeError):
    """A window that does not fit the request format, or a reply that is malformed."""


@dataclass(frozen=True)
class Reply:
    cls: int
    logits: np.ndarray  # int64 (n_classes,)


@dataclass(frozen=True)
class Protocol:
    """The frame sizes for one accelerator (its input and logit widths)."""

    n_inputs: int
    input_bits: int
    n_classes: int
    logit_bits: int

    @property
    def value_bytes(self) -> int:
        return (self.input_bits + 7) // 8

    @property
    def logit_bytes(self) -> int:
        return (self.logit_bits + 7) // 8

    @property
    def request_bytes(self) -> int:
        return 1 + self.n_inputs * self.value_bytes

    @property
    def reply_bytes(self) -> int:
        return 3 + self.n_classes * self.logit_bytes

    @classmethod
    def of(cls, accel: Any) -> "Protocol":
        """From an accelerator component (faultedge.hdl.build_accelerator), its plan, or a report's `uart` entry."""
        get = accel.get if isinstance(accel, dict) else lambda k: getattr(accel, k)
        return cls(*(int(get(k)) for k in ("n_inputs", "input_bits", "n_classes", "logit_bits")))

    def to_json(self) -> dict[str, int]:
        return {"n_inputs": self.n_inputs, "input_bits": self.input_bits, "n_classes": self.n_classes, "logit_bits": self.logit_bits}

    def encode_window(self, x_int: np.ndarray) -> bytes:
        """One request frame for one window of integer inputs."""
        x = np.asarray(x_int)
        if not np.issubdtype(x.dtype, np.integer):
            raise ProtocolError(f"the window must hold integers (golden.quantize_input), got dtype {x.dtype}")
        x = x.reshape(-1).astype(np.int64)
        if x.size != self.n_inputs:
            raise ProtocolError(f"expected {self.n_inputs} input values, got {x.size}")
        lo, hi = -(1 << (self.input_bits - 1)), (1 << (self.input_bits - 1)) - 1
        if x.min() < lo or x.max() > hi:
            raise ProtocolError(f"input values must lie in [{lo}, {hi}] ({self.input_bits}-bit signed)")
        payload = b"".join(int(v).to_bytes(self.value_bytes, "little", signed=True) for v in x)
        return bytes([REQUEST_SYNC]) + payload

    def decode_reply(self, frame: bytes) -> Reply:
        """Class and integer logits from one reply frame; a malformed frame is refused."""
        if len(frame) != self.reply_bytes:
            raise ProtocolError(f"expected a {self.reply_bytes}-byte reply, got {len(frame)} bytes (timeout or wrong build?)")
        if frame[0] != REPLY_SYNC:
            raise ProtocolError(f"reply starts with 0x{frame[0]:02X}, expected 0x{REPLY_SYNC:02X}")
        body, checksum = frame[1:-1], frame[-1]
        if sum(body) % 256 != checksum:
            raise ProtocolError(f"reply checksum 0x{checksum:02X} != 0x{sum(body) % 256:02X}: transmission error")
        n = self.logit_bytes
        logits = np.array([int.from_bytes(body[1 + i * n: 1 + (i + 1) * n], "little", signed=True) for i in range(self.n_classes)], dtype=np.int64)
        if body[0] >= self.n_classes:
            raise ProtocolError(f"reply class {body[0]} out of range (n_classes = {self.n_classes})")
        return Reply(int(body[0]), logits)


class Stream(_Stream):
    """What `classify` needs of a serial port: pyserial's Serial (with a timeout) fits."""

    def write(self, data: bytes) -> Any: ...

    def read(self, size: int) -> bytes: ...


def classify(port: Stream, protocol: Protocol, x_int: np.ndarray) -> Reply:
    """Send one window, wait for its reply. E.g. with pyserial:

        port = serial.Serial("/dev/ttyUSB0", 115200, timeout=1)
        proto = Protocol.of(json.load(open("runs/NAME/fpga/ulx3s-85f/report.json"))["uart"])
        reply = classify(port, proto, golden.quantize_input(ir, features)[0])
    """
    port.write(protocol.encode_window(x_int))
    return protocol.decode_reply(bytes(port.read(protocol.reply_bytes)))
