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

A sample-in accelerator (raw samples in, faultedge.hdl.frontend) streams instead:

    0xA5, then raw samples, each ceil(sample_bits/8) bytes, little endian, two's complement, for as
    long as the host likes; one reply (as above) for every complete window, i.e. every `hop` samples
    once the first `window` have arrived

A pause longer than `IDLE_TIMEOUT_S` ends the stream and resets the accelerator (its window buffer
starts empty again): the next 0xA5 starts a new stream.

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
    input_bits: int  # a sample-in accelerator's: the sample width
    n_classes: int
    logit_bits: int
    window: int = 0  # a sample-in accelerator's window and hop (0: a request carries one window of inputs)
    hop: int = 0

    @property
    def samples(self) -> bool:
        """The host streams raw samples (a reply per hop) instead of sending one window of inputs per request."""
        return self.window > 0

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
        """From an accelerator component (faultedge.hdl.build_accelerator, or its Verilog instance), its plan, or a report's
        `uart` entry; a sample-in accelerator's has its window and hop."""
        get = accel.get if isinstance(accel, dict) else lambda k, default=None: getattr(accel, k, default)
        window = int(get("window", 0))
        bits = get("sample_bits" if window else "input_bits")
        return cls(int(get("n_inputs")), int(bits), int(get("n_classes")), int(get("logit_bits")), window, int(get("hop", 0)))

    def to_json(self) -> dict[str, int]:
        if self.samples:
            return {"sample_bits": self.input_bits, "window": self.window, "hop": self.hop, "n_inputs": self.n_inputs, "n_classes": self.n_classes,
                    "logit_bits": self.logit_bits}
        return {"n_inputs": self.n_inputs, "input_bits": self.input_bits, "n_classes": self.n_classes, "logit_bits": self.logit_bits}

    def encode_window(self, x_int: np.ndarray) -> bytes:
        """One request frame for one window of integer inputs."""
        if self.samples:
            raise ProtocolError("this accelerator takes raw samples: use encode_samples")
        return self._encode(x_int, self.n_inputs, "the window", "golden.quantize_input")

    def encode_samples(self, samples: np.ndarray) -> bytes:
        """The sync byte and a stream of raw integer samples (faultedge.ir.frontend.quantize_samples)."""
        if not self.samples:
            raise ProtocolError("this accelerator takes one window of inputs per request: use encode_window")
        return self._encode(samples, None, "the samples", "frontend.quantize_samples", symmetric=True)

    def replies_for(self, n_samples: int) -> int:
        """Replies a sample stream of `n_samples` gets: one per complete window."""
        return 0 if n_samples < self.window else (n_samples - self.window) // self.hop + 1

    def _encode(self, values: np.ndarray, count: int | None, what: str, helper: str, symmetric: bool = False) -> bytes:
        """The sync byte and the values; samples (`symmetric`) exclude the most negative code, as the front end's range does."""
        x = np.asarray(values)
        if not np.issubdtype(x.dtype, np.integer):
            raise ProtocolError(f"{what} must hold integers ({helper}), got dtype {x.dtype}")
        x = x.reshape(-1).astype(np.int64)
        if count is not None and x.size != count:
            raise ProtocolError(f"expected {count} input values, got {x.size}")
        hi = (1 << (self.input_bits - 1)) - 1
        lo = -hi if symmetric else -hi - 1
        if x.size and (x.min() < lo or x.max() > hi):
            kind = "samples (symmetric: the front end's range)" if symmetric else "input values"
            raise ProtocolError(f"{kind} must lie in [{lo}, {hi}] ({self.input_bits}-bit signed; {helper} gives them)")
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


def classify_stream(port: Stream, protocol: Protocol, samples: np.ndarray) -> list[Reply]:
    """Stream raw samples to a sample-in accelerator; one reply per complete window (hop), in order."""
    port.write(protocol.encode_samples(samples))
    return [protocol.decode_reply(bytes(port.read(protocol.reply_bytes))) for _ in range(protocol.replies_for(np.asarray(samples).size))]
