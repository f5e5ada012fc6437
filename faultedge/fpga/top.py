"""The board top: board clock -> PLL -> core clock, power-on reset, the UART host interface
around the accelerator, and the last class on the LEDs.

Ports (the names the pin files use): `clk_in` (or `clk_in_p`/`clk_in_n` for a differential
board clock), `uart_rx`, `uart_tx`, `led[0..leds-1]`.
"""

from __future__ import annotations

from amaranth.back import verilog
from amaranth.hdl import ClockDomain, ClockSignal, Const, Instance, Module, ResetSignal, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from faultedge.errors import FaultedgeError
from faultedge.fpga.board import FpgaBoard
from faultedge.fpga.clocks import ClockPlan, pll_instance
from faultedge.fpga.protocol import IDLE_TIMEOUT_S
from faultedge.fpga.uart import UartHost

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
    def __init__(self, board: FpgaBoard, accel: wiring.Component, clock: ClockPlan, baud: int | None = None) -> None:
        self.board, self.accel, self.clock = board, accel, clock
        self.baud = baud or board.baud
        self.divisor = uart_divisor(clock.core_mhz, self.baud)
        clk = {"clk_in_p": In(1), "clk_in_n": In(1)} if board.clock_differential else {"clk_in": In(1)}
        leds = {"led": Out(board.leds)} if board.leds else {}
        super().__init__({**clk, "uart_rx": In(1, init=1), "uart_tx": Out(1, init=1), **leds})

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

        timeout = round(self.clock.core_mhz * 1e6 * IDLE_TIMEOUT_S)
        m.submodules.host = host = UartHost(self.accel, self.divisor, timeout)
        m.d.comb += [host.uart_rx.eq(self.uart_rx), self.uart_tx.eq(host.uart_tx)]
        if self.board.leds:
            shown = host.cls[: self.board.leds]
            m.d.comb += self.led.eq(~shown if self.board.led_active_low else shown)
        return m


def top_verilog(board: FpgaBoard, accel: wiring.Component, clock: ClockPlan, baud: int | None = None) -> str:
    """Verilog of the board design, module `faultedge_top`; with a VerilogAccelerator
    (faultedge.fpga.accel_instance) the accelerator is an instance of the generated module."""
    return verilog.convert(BoardTop(board, accel, clock, baud), name=TOP_NAME, emit_src=False)
