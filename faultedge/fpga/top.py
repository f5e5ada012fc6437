"""The board top: board clock -> PLL -> core clock, power-on reset, the accelerator fed by its
sample source, and the last class on the LEDs. Two sources:

    uart   uart_rx -> UartHost (requests in, replies out, faultedge.fpga.protocol) -> uart_tx
    spi    adc_* -> SpiAdc -> sample-in accelerator -> UartReply -> UartTx -> uart_tx

With the SPI ADC (faultedge.fpga.spi_adc) the accelerator takes the converter's samples from the
end of the power-on reset on and never stops; the UART only carries the replies (the same frames,
one per hop) and `uart_rx` is unused. A board with more LEDs than the class needs lights its
highest LED once the reader has dropped a sample (an overrun).

Ports (the names the pin files use): `clk_in` (or `clk_in_p`/`clk_in_n` for a differential
board clock), `uart_rx`, `uart_tx`, `led[0..leds-1]`; with the SPI source also `adc_sclk`,
`adc_cs`, `adc_miso`.
"""

from __future__ import annotations

from amaranth.back import verilog
from amaranth.hdl import Cat, ClockDomain, ClockSignal, Const, Instance, Module, ResetSignal, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from faultedge.errors import FaultedgeError
from faultedge.fpga.board import FpgaBoard
from faultedge.fpga.clocks import ClockPlan, pll_instance
from faultedge.fpga.protocol import IDLE_TIMEOUT_S, Protocol
from faultedge.fpga.spi_adc import AdcError, AdcSettings, SpiAdc, hz
from faultedge.fpga.uart import UartHost, UartReply, UartTx

TOP_NAME = "faultedge_top"
MAX_BAUD_ERROR = 0.02
POR_CYCLES = 1 << 10  # core-clock cycles of reset after the PLL locks


def uart_divisor(clock_mhz: float, baud: int) -> int:
    """Core-clock cycles per UART bit; refused when the rounding error could break 8N1 framing."""
    divisor = round(clock_mhz * 1e6 / baud)
    if divisor < 4 or abs(clock_mhz * 1e6 / divisor - baud) / baud > MAX_BAUD_ERROR:
        raise FaultedgeError(f"a {clock_mhz:g} MHz core clock cannot make {baud} baud within {MAX_BAUD_ERROR:.0%}")
    return divisor


class BoardTop(wiring.Component):
    """`adc`: the SPI ADC source's settings (None: samples or features over the UART). Everything the
    top cannot build is refused here, before any file is written."""

    def __init__(self, board: FpgaBoard, accel: wiring.Component, clock: ClockPlan, baud: int | None = None,
                 adc: AdcSettings | None = None) -> None:
        self.board, self.accel, self.clock, self.adc = board, accel, clock, adc
        self.baud = baud or board.baud
        self.divisor = uart_divisor(clock.core_mhz, self.baud)
        clk = {"clk_in_p": In(1), "clk_in_n": In(1)} if board.clock_differential else {"clk_in": In(1)}
        leds = {"led": Out(board.leds)} if board.leds else {}
        pins = {}
        if adc is not None:
            check_spi_source(board, Protocol.of(accel), adc, clock, self.baud)
            pins = {"adc_sclk": Out(1, init=adc.cpol), "adc_cs": Out(1, init=int(adc.cs_active_low)), "adc_miso": In(1)}
        super().__init__({**clk, "uart_rx": In(1, init=1), "uart_tx": Out(1, init=1), **leds, **pins})

    def elaborate(self, platform):
        m = Module()
        if self.board.clock_differential:
            clk_in = Signal()
            m.submodules.ibufds = Instance("IBUFDS", i_I=self.clk_in_p, i_IB=self.clk_in_n, o_O=clk_in)
        else:
            clk_in = self.clk_in
        if self.clock.uses_pll:
            core, locked = pll_instance(m, self.clock, clk_in, self.board.pll)
        else:
            core, locked = clk_in, Const(1)  # a Python 1 would make `~locked` -2: reset held forever
        m.domains.sync = ClockDomain("sync")
        m.domains.por = ClockDomain("por", reset_less=True)
        por = Signal(range(POR_CYCLES + 1))
        # registered, so the reset that fans out to every flip-flop leaves a flip-flop, not the counter's compare
        reset = Signal(init=1)
        m.d.por += reset.eq(por != POR_CYCLES)
        m.d.comb += [ClockSignal("sync").eq(core), ClockSignal("por").eq(core), ResetSignal("sync").eq(reset)]
        with m.If(~locked):
            m.d.por += por.eq(0)
        with m.Elif(por != POR_CYCLES):
            m.d.por += por.eq(por + 1)

        if self.adc is None:
            timeout = round(self.clock.core_mhz * 1e6 * IDLE_TIMEOUT_S)
            m.submodules.host = host = UartHost(self.accel, self.divisor, timeout)
            m.d.comb += [host.uart_rx.eq(self.uart_rx), self.uart_tx.eq(host.uart_tx)]
            cls, overrun = host.cls, None
        else:
            cls, overrun = self._spi_source(m)
        if self.board.leds:
            shown = cls[: self.board.leds]
            if overrun is not None and self.board.leds > len(cls):
                shown = Cat(cls, Const(0, self.board.leds - len(cls) - 1), overrun)
            m.d.comb += self.led.eq(~shown if self.board.led_active_low else shown)
        return m

    def _spi_source(self, m: Module):
        """ADC -> accelerator -> replies on the UART; the last class, and whether a sample was ever dropped."""
        proto = Protocol.of(self.accel)
        m.submodules.adc = adc = SpiAdc(self.adc, self.clock.core_mhz * 1e6, proto.input_bits)
        m.submodules.accel = self.accel
        m.submodules.reply = reply = UartReply(proto)
        m.submodules.tx = tx = UartTx(self.divisor)
        m.d.comb += [self.adc_sclk.eq(adc.sclk), self.adc_cs.eq(adc.cs), adc.miso.eq(self.adc_miso), self.uart_tx.eq(tx.tx)]
        wiring.connect(m, adc.samples, self.accel.samples)
        wiring.connect(m, self.accel.result, reply.result)
        wiring.connect(m, reply.bytes, tx.bytes)
        return reply.cls, adc.overruns != 0


def check_spi_source(board: FpgaBoard, proto: Protocol, adc: AdcSettings, clock: ClockPlan, baud: int) -> None:
    """The SPI ADC source needs a sample-in accelerator, a board with ADC pins, a sample rate the core
    clock can make (AdcSettings.timing) and a UART fast enough to send each hop's reply before the next."""
    if not proto.samples:
        raise AdcError("the SPI ADC source feeds raw samples: it needs a sample-in accelerator (`faultedge hdl RUN --frontend pipelined`); "
                       "this one takes features (use --source uart)")
    if not board.adc_note:
        raise AdcError(f"board {board.name} has no SPI ADC pins in its profile (no adc_note, no adc_* pins)")
    timing = adc.timing(clock.core_mhz * 1e6)
    reply_s, hop_s = proto.reply_bytes * 10 / baud, proto.hop / timing.rate_hz
    if reply_s > hop_s:
        raise AdcError(f"at {baud} baud a {proto.reply_bytes}-byte reply takes {reply_s * 1e3:.3g} ms, longer than a hop of {proto.hop} samples at "
                       f"{hz(adc.rate_hz)} ({hop_s * 1e3:.3g} ms): the replies would fall behind and samples be dropped; "
                       "raise --baud or lower --adc-rate")


def top_verilog(board: FpgaBoard, accel: wiring.Component, clock: ClockPlan, baud: int | None = None, adc: AdcSettings | None = None) -> str:
    """Verilog of the board design, module `faultedge_top`; with a VerilogAccelerator
    (faultedge.fpga.accel_instance) the accelerator is an instance of the generated module."""
    return verilog.convert(BoardTop(board, accel, clock, baud, adc), name=TOP_NAME, emit_src=False)
