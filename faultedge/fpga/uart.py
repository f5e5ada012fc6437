"""The host interface of the board tops: an 8N1 UART and the request/reply engine around the accelerator.

The byte protocol is defined (and decoded on the host) in faultedge.fpga.protocol; this module
is its hardware side. The accelerator is any component with the stream ports of
faultedge.hdl.build_accelerator (`beats` in, `result` out) or of a sample-in accelerator (`samples`
in, `result` out): the engine itself, or the generated Verilog as an instance
(faultedge.fpga.accel_instance).

    uart_rx -> UartRx -> UartRequest -> accelerator -> UartReply -> UartTx -> uart_tx   (byte and accelerator streams)
"""

from amaranth.hdl import Cat, Const, Module, ResetInserter, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from faultedge.fpga.protocol import REPLY_SYNC, REQUEST_SYNC, Protocol
from faultedge.hdl.components.streams import beats_signature, result_layout, samples_signature
from faultedge.hdl.stream_plan import class_bits


class UartRx(wiring.Component):
    """8N1 receiver: samples each bit in its middle; every byte is a one-cycle transfer on `bytes`
    (there is no back-pressure on a serial line: whoever listens takes it)."""

    rx: In(1, init=1)
    bytes: Out(stream.Signature(8, always_ready=True))

    def __init__(self, divisor: int) -> None:
        if divisor < 4:
            raise ValueError(f"UART divisor {divisor} < 4: the clock is too slow for the baud rate")
        self.divisor = divisor
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        sync = Signal(2, init=0b11)  # two flip-flops against metastability
        m.d.sync += sync.eq(Cat(self.rx, sync[0]))
        line = sync[1]
        timer = Signal(range(self.divisor))
        bit = Signal(range(8))
        shreg = Signal(8)
        m.d.sync += self.bytes.valid.eq(0)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(~line):
                    m.d.sync += timer.eq(self.divisor // 2)
                    m.next = "START"
            with m.State("START"):  # re-check the start bit in its middle: a glitch returns to IDLE
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Elif(line):
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += [timer.eq(self.divisor - 1), bit.eq(0)]
                    m.next = "DATA"
            with m.State("DATA"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    m.d.sync += [shreg.eq(Cat(shreg[1:], line)), timer.eq(self.divisor - 1), bit.eq(bit + 1)]
                    with m.If(bit == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    with m.If(line):  # a missing stop bit (framing error) drops the byte
                        m.d.sync += [self.bytes.payload.eq(shreg), self.bytes.valid.eq(1)]
                    m.next = "IDLE"
        return m


class UartTx(wiring.Component):
    """8N1 transmitter: takes a byte from `bytes` whenever the line is idle."""

    bytes: In(stream.Signature(8))
    tx: Out(1, init=1)

    def __init__(self, divisor: int) -> None:
        self.divisor = divisor
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        shreg = Signal(10, init=0x3FF)
        bits = Signal(range(11))
        timer = Signal(range(self.divisor))
        m.d.comb += self.bytes.ready.eq(bits == 0)
        m.d.sync += self.tx.eq(shreg[0])
        with m.If(bits == 0):
            with m.If(self.bytes.valid):
                m.d.sync += [shreg.eq(Cat(Const(0, 1), self.bytes.payload, Const(1, 1))), bits.eq(10), timer.eq(self.divisor - 1)]
        with m.Elif(timer != 0):
            m.d.sync += timer.eq(timer - 1)
        with m.Else():
            m.d.sync += [shreg.eq(Cat(shreg[1:], Const(1, 1))), bits.eq(bits - 1), timer.eq(self.divisor - 1)]
        return m


class UartRequest(wiring.Component):
    """Request bytes -> the accelerator's input stream: after the sync byte each value's bytes
    (little endian) are assembled, `beat` values make one beat (`signature`: the accelerator's input
    stream). A request ends after a window's beats, or, for a raw sample stream, never: only a pause
    does. A request that stalls for `timeout` cycles is dropped and `abort` pulses, so the host resets
    the accelerator and the next sync byte starts a clean inference (or stream)."""

    def __init__(self, protocol: Protocol, beat: int, timeout: int, signature: stream.Signature) -> None:
        self.protocol, self.beat, self.timeout = protocol, beat, timeout
        super().__init__({"bytes": In(stream.Signature(8, always_ready=True)), "beats": Out(signature), "abort": Out(1)})

    def elaborate(self, platform):
        m = Module()
        proto, rx = self.protocol, self.bytes
        bits = proto.input_bits
        n_beats = proto.n_inputs // self.beat
        value = Signal(8 * proto.value_bytes)
        byte_i = Signal(range(proto.value_bytes))
        value_i = Signal(range(self.beat))
        beats = Signal(range(n_beats + 1))
        idle = Signal(range(self.timeout + 1))
        beat_data = Signal(self.beat * bits)
        m.d.comb += self.beats.payload.eq(beat_data)
        m.d.sync += self.abort.eq(0)
        with m.FSM():
            with m.State("SYNC"):
                with m.If(rx.valid & (rx.payload == REQUEST_SYNC)):
                    m.d.sync += [byte_i.eq(0), value_i.eq(0), beats.eq(0), idle.eq(0)]
                    m.next = "RECV"
            with m.State("RECV"):
                with m.If(rx.valid):
                    m.d.sync += [value.eq(Cat(value[8:], rx.payload)), idle.eq(0)]
                    with m.If(byte_i == proto.value_bytes - 1):
                        # the new byte is the value's most significant one
                        last = Cat(value[8:], rx.payload)[:bits]
                        m.d.sync += [byte_i.eq(0), beat_data.eq(Cat(beat_data[bits:], last))]
                        with m.If(value_i == self.beat - 1):
                            m.d.sync += [value_i.eq(0), self.beats.valid.eq(1)]
                            m.next = "BEAT"
                        with m.Else():
                            m.d.sync += value_i.eq(value_i + 1)
                    with m.Else():
                        m.d.sync += byte_i.eq(byte_i + 1)
                with m.Elif(idle == self.timeout):
                    m.d.sync += self.abort.eq(1)  # drop the partial request and the accelerator's partial inference
                    m.next = "SYNC"
                with m.Else():
                    m.d.sync += idle.eq(idle + 1)
            with m.State("BEAT"):
                with m.If(self.beats.ready):
                    m.d.sync += [self.beats.valid.eq(0), beats.eq(beats + 1), idle.eq(0)]
                    with m.If(Const(0) if proto.samples else beats == n_beats - 1):  # a sample stream ends with a pause only
                        m.next = "SYNC"
                    with m.Else():
                        m.next = "RECV"
        return m


class UartReply(wiring.Component):
    """The accelerator's result stream -> reply frames: the sync byte, the class, every logit
    sign-extended to whole bytes (class 0 first), the checksum. The next result is taken once the
    frame is sent; `cls` holds the last class (for LEDs)."""

    def __init__(self, protocol: Protocol) -> None:
        self.protocol = protocol
        super().__init__({"result": In(stream.Signature(result_layout(protocol.n_classes, protocol.logit_bits))),
                          "bytes": Out(stream.Signature(8)), "cls": Out(class_bits(protocol.n_classes))})

    def elaborate(self, platform):
        m = Module()
        proto, res, tx = self.protocol, self.result, self.bytes
        width = 8 * proto.logit_bytes
        cls = res.payload.cls
        frame = Cat(Const(REPLY_SYNC, 8), cls, Const(0, 8 - len(cls)), *[_sign_extend(res.payload.logits[i], width) for i in range(proto.n_classes)])
        shreg = Signal(len(frame))
        left = Signal(range(proto.reply_bytes + 1))  # bytes still to send; 0: idle
        checksum = Signal(8)
        m.d.comb += res.ready.eq(left == 0)
        with m.If((left == 0) & res.valid):
            m.d.sync += [shreg.eq(frame), left.eq(proto.reply_bytes), checksum.eq(0), self.cls.eq(cls)]
        last = left == 1
        m.d.comb += [tx.valid.eq(left != 0), tx.payload.eq(shreg[:8])]
        with m.If(last):
            m.d.comb += tx.payload.eq(checksum)
        with m.If(tx.valid & tx.ready):
            m.d.sync += [shreg.eq(shreg >> 8), left.eq(left - 1)]
            with m.If(left != proto.reply_bytes):  # the sync byte is not summed
                m.d.sync += checksum.eq(checksum + shreg[:8])
        return m


class UartHost(wiring.Component):
    """Requests in, replies out (faultedge.fpga.protocol), around one accelerator: the request
    side drives the accelerator's input stream, its result stream feeds the reply side.

    The streams are built from the accelerator's figures by the function that built its own
    ports (faultedge.hdl.components.streams), and `wiring.connect` refuses any mismatch. A
    request that stalls is dropped and the accelerator reset. `cls` holds the last class (for LEDs).
    A sample-in accelerator takes the request's values as its sample stream.
    """

    def __init__(self, accel: wiring.Component, divisor: int, timeout: int) -> None:
        self.accel, self.divisor, self.timeout = accel, divisor, timeout
        self.protocol = Protocol.of(accel)
        if accel.n_inputs % accel.beat:
            raise ValueError(f"n_inputs {accel.n_inputs} is not a multiple of beat {accel.beat}")
        if accel.n_classes > 256:
            raise ValueError("the reply's class byte holds at most 256 classes")
        super().__init__({"uart_rx": In(1, init=1), "uart_tx": Out(1, init=1), "cls": Out(class_bits(accel.n_classes))})

    def elaborate(self, platform):
        m = Module()
        m.submodules.rx = rx = UartRx(self.divisor)
        m.submodules.tx = tx = UartTx(self.divisor)
        proto = self.protocol
        signature = samples_signature(proto.input_bits) if proto.samples else beats_signature(self.accel.beat, proto.input_bits)
        m.submodules.request = request = UartRequest(proto, self.accel.beat, self.timeout, signature)
        m.submodules.reply = reply = UartReply(self.protocol)
        m.submodules.accel = ResetInserter(request.abort)(self.accel)
        m.d.comb += [rx.rx.eq(self.uart_rx), self.uart_tx.eq(tx.tx), self.cls.eq(reply.cls)]
        wiring.connect(m, rx.bytes, request.bytes)
        wiring.connect(m, request.beats, self.accel.samples if proto.samples else self.accel.beats)
        wiring.connect(m, self.accel.result, reply.result)
        wiring.connect(m, reply.bytes, tx.bytes)
        return m


def _sign_extend(value, width: int):
    """Two's-complement `value` widened to `width` bits (the reply's whole logit bytes)."""
    return Cat(value, *([value[-1]] * (width - len(value))))
