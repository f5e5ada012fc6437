"""The host interface of the board tops: an 8N1 UART and the request/reply engine around the accelerator.

The byte protocol is defined (and decoded on the host) in faultedge.fpga.protocol; this module
is its hardware side. The accelerator is any component with the stream ports of
faultedge.hdl.build_accelerator: the engine itself, or the generated Verilog as an instance
(faultedge.fpga.accel_instance).
"""

from amaranth.hdl import Cat, Const, Module, ResetInserter, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from faultedge.fpga.protocol import REPLY_SYNC, REQUEST_SYNC, Protocol


class UartRx(wiring.Component):
    """8N1 receiver: samples each bit in its middle; `strobe` pulses for one cycle with `data`."""

    rx: In(1, init=1)
    data: Out(8)
    strobe: Out(1)

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
        m.d.sync += self.strobe.eq(0)
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
                        m.d.sync += [self.data.eq(shreg), self.strobe.eq(1)]
                    m.next = "IDLE"
        return m


class UartTx(wiring.Component):
    """8N1 transmitter: takes `data` when `valid` and `ready` are both high."""

    data: In(8)
    valid: In(1)
    ready: Out(1)
    tx: Out(1, init=1)

    def __init__(self, divisor: int) -> None:
        self.divisor = divisor
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        shreg = Signal(10, init=0x3FF)
        bits = Signal(range(11))
        timer = Signal(range(self.divisor))
        m.d.comb += self.ready.eq(bits == 0)
        m.d.sync += self.tx.eq(shreg[0])
        with m.If(bits == 0):
            with m.If(self.valid):
                m.d.sync += [shreg.eq(Cat(Const(0, 1), self.data, Const(1, 1))), bits.eq(10), timer.eq(self.divisor - 1)]
        with m.Elif(timer != 0):
            m.d.sync += timer.eq(timer - 1)
        with m.Else():
            m.d.sync += [shreg.eq(Cat(shreg[1:], Const(1, 1))), bits.eq(bits - 1), timer.eq(self.divisor - 1)]
        return m


class UartHost(wiring.Component):
    """Requests in, replies out (faultedge.fpga.protocol), around one accelerator.

    Input values are assembled from bytes, `beat` of them form one input beat; a request that
    stalls for `timeout` cycles is dropped and the accelerator is reset, so the next 0xA5 starts
    a clean inference. `cls` holds the last class (for LEDs).
    """

    def __init__(self, accel: wiring.Component, divisor: int, timeout: int) -> None:
        self.accel, self.divisor, self.timeout = accel, divisor, timeout
        self.protocol = Protocol.of(accel)
        if accel.n_inputs % accel.beat:
            raise ValueError(f"n_inputs {accel.n_inputs} is not a multiple of beat {accel.beat}")
        if accel.n_classes > 256:
            raise ValueError("the reply's class byte holds at most 256 classes")
        super().__init__({"uart_rx": In(1, init=1), "uart_tx": Out(1, init=1), "cls": Out(unsigned(len(accel.out_class)))})

    def elaborate(self, platform):
        m = Module()
        abort = Signal()
        m.submodules.accel = ResetInserter(abort)(self.accel)
        m.submodules.rx = rx = UartRx(self.divisor)
        m.submodules.tx = tx = UartTx(self.divisor)
        m.d.comb += [rx.rx.eq(self.uart_rx), self.uart_tx.eq(tx.tx)]
        self._request(m, rx, abort)
        self._reply(m, tx)
        return m

    def _request(self, m: Module, rx: UartRx, abort: Signal) -> None:
        acc, proto = self.accel, self.protocol
        n_beats = acc.n_inputs // acc.beat
        value = Signal(8 * proto.value_bytes)
        byte_i = Signal(range(proto.value_bytes))
        value_i = Signal(range(acc.beat))
        beats = Signal(range(n_beats + 1))
        idle = Signal(range(self.timeout + 1))
        beat_data = Signal(len(acc.in_data))
        m.d.comb += acc.in_data.eq(beat_data)
        m.d.sync += abort.eq(0)
        with m.FSM():
            with m.State("SYNC"):
                with m.If(rx.strobe & (rx.data == REQUEST_SYNC)):
                    m.d.sync += [byte_i.eq(0), value_i.eq(0), beats.eq(0), idle.eq(0)]
                    m.next = "RECV"
            with m.State("RECV"):
                with m.If(rx.strobe):
                    m.d.sync += [value.eq(Cat(value[8:], rx.data)), idle.eq(0)]
                    with m.If(byte_i == proto.value_bytes - 1):
                        # the new byte is the value's most significant one
                        last = Cat(value[8:], rx.data)[: acc.input_bits]
                        m.d.sync += [byte_i.eq(0), beat_data.eq(Cat(beat_data[acc.input_bits:], last))]
                        with m.If(value_i == acc.beat - 1):
                            m.d.sync += [value_i.eq(0), acc.in_valid.eq(1)]
                            m.next = "BEAT"
                        with m.Else():
                            m.d.sync += value_i.eq(value_i + 1)
                    with m.Else():
                        m.d.sync += byte_i.eq(byte_i + 1)
                with m.Elif(idle == self.timeout):
                    m.d.sync += abort.eq(1)  # drop the partial request and the accelerator's partial inference
                    m.next = "SYNC"
                with m.Else():
                    m.d.sync += idle.eq(idle + 1)
            with m.State("BEAT"):
                with m.If(acc.in_ready):
                    m.d.sync += [acc.in_valid.eq(0), beats.eq(beats + 1), idle.eq(0)]
                    with m.If(beats == n_beats - 1):
                        m.next = "SYNC"
                    with m.Else():
                        m.next = "RECV"

    def _reply(self, m: Module, tx: UartTx) -> None:
        acc, proto = self.accel, self.protocol
        width = 8 * proto.logit_bytes
        logits = [acc.out_logits[i * acc.logit_bits:(i + 1) * acc.logit_bits] for i in range(acc.n_classes)]
        frame = Cat(Const(REPLY_SYNC, 8), acc.out_class.as_unsigned(), Const(0, 8 - len(acc.out_class)),
                    *[_sign_extend(l, width) for l in logits])
        shreg = Signal(len(frame))
        left = Signal(range(proto.reply_bytes + 1))  # bytes still to send; 0: idle
        checksum = Signal(8)
        m.d.comb += acc.out_ready.eq(left == 0)
        with m.If((left == 0) & acc.out_valid):
            m.d.sync += [shreg.eq(frame), left.eq(proto.reply_bytes), checksum.eq(0), self.cls.eq(acc.out_class)]
        last = left == 1
        m.d.comb += [tx.valid.eq(left != 0), tx.data.eq(shreg[:8])]
        with m.If(last):
            m.d.comb += tx.data.eq(checksum)
        with m.If(tx.valid & tx.ready):
            m.d.sync += [shreg.eq(shreg >> 8), left.eq(left - 1)]
            with m.If(left != proto.reply_bytes):  # the sync byte is not summed
                m.d.sync += checksum.eq(checksum + shreg[:8])


def _sign_extend(value, width: int):
    """Two's-complement `value` widened to `width` bits (the reply's whole logit bytes)."""
    return Cat(value, *([value[-1]] * (width - len(value))))
