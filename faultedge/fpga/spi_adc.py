"""A reader for a read-only SPI ADC: a sample tick from a divider of the core clock, one SPI frame per
tick, each result as one two's-complement sample on a `samples` stream (the sample-in accelerator's
input, faultedge.hdl.components.streams.samples_signature).

One frame, in core-clock cycles, with h = `half` (cycles per SCLK half period) and n = lead + width bits:

    tick     CS goes active (the converter samples its input)
    h        first SCLK edge (leaving the CPOL idle level), then an edge every h cycles: 2n edges
    (2n+1)h  CS inactive, the sample offered on `samples`
    ...      CS stays inactive (at least 2h cycles) until the next tick, `period` cycles after this one

    CPHA 0: MISO is read on the leading edges (the converter drives a bit on CS and on each trailing edge)
    CPHA 1: MISO is read on the trailing edges (the converter drives a bit on each leading edge)

MISO is read in the core-clock cycle whose register makes the reading SCLK edge: the bit has had a
whole SCLK half period (h >= 2 cycles) since the edge that launched it, and is held until the next
launching edge. The first `lead` bits (the null and zero bits converters put before the MSB) are
dropped, the `width` data bits come MSB first in two's complement or offset binary.

The sample is taken on the tick whatever the back-pressure: a sample that finds the previous one
still waiting on `samples` is dropped (the waiting one stays, as a stream's payload must), and
`overruns` counts the dropped samples, saturating at its maximum.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from faultedge.errors import FaultedgeError
from faultedge.hdl.components.streams import samples_signature

WIDTHS = (12, 24)  # the converter's data bits, inclusive
MAX_LEAD = 8  # bits before the MSB
CODINGS = ("twos", "offset")  # two's complement; offset binary (0 is the most negative input)
RATE_TOLERANCE = 1e-3  # the sample rate the divider makes may differ this much (relative) from the one asked for
SCLK_LIMIT_HZ = 25e6  # no faster SCLK over a header's wires
MIN_HALF = 2  # core cycles per SCLK half period: SCLK <= core clock / 4
OVERRUN_BITS = 16  # the overrun counter's width (it saturates)


class AdcError(FaultedgeError):
    """ADC settings the reader cannot make with the core clock, or out of range."""


@dataclass(frozen=True)
class AdcTiming:
    """The dividers of one ADC setting at one core clock (all in core-clock cycles)."""

    clock_hz: float
    period: int  # cycles per sample
    half: int  # cycles per SCLK half period
    bits: int  # SCLK cycles per frame: lead + width

    @property
    def rate_hz(self) -> float:
        return self.clock_hz / self.period

    @property
    def sclk_hz(self) -> float:
        return self.clock_hz / (2 * self.half)

    @property
    def frame(self) -> int:
        """Cycles a sample needs: CS active for 2n+1 half periods, then inactive for at least two."""
        return self.half * (2 * self.bits + 3)

    def to_json(self) -> dict[str, Any]:
        return {"divider": self.period, "actual_rate_hz": round(self.rate_hz, 3), "actual_sclk_hz": round(self.sclk_hz, 1),
                "sclk_half_cycles": self.half, "frame_cycles": self.frame}


@dataclass(frozen=True)
class AdcSettings:
    """What the converter and its wiring need (its datasheet's figures)."""

    rate_hz: float  # samples per second: the rate the network was trained at
    width: int = 16
    mode: int = 0  # SPI mode: CPOL = mode >> 1, CPHA = mode & 1
    lead: int = 0  # bits clocked out before the MSB
    coding: str = "twos"
    cs_active_low: bool = True
    sclk_hz: float = 1e6  # the fastest SCLK the converter takes: the reader uses the fastest it can divide to at or below it

    def __post_init__(self) -> None:
        if not WIDTHS[0] <= self.width <= WIDTHS[1]:
            raise AdcError(f"ADC width {self.width}: the reader takes {WIDTHS[0]}..{WIDTHS[1]}-bit converters")
        if self.mode not in range(4):
            raise AdcError(f"SPI mode {self.mode}: expected 0, 1, 2 or 3 (CPOL = mode >> 1, CPHA = mode & 1)")
        if not 0 <= self.lead <= MAX_LEAD:
            raise AdcError(f"{self.lead} lead bits: expected 0..{MAX_LEAD} bits before the MSB")
        if self.coding not in CODINGS:
            raise AdcError(f"ADC coding {self.coding!r}: expected one of {', '.join(CODINGS)}")
        for name in ("rate_hz", "sclk_hz"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) > 0):
                raise AdcError(f"ADC {name}: must be a positive number of Hz, got {getattr(self, name)!r}")

    @property
    def cpol(self) -> int:
        return self.mode >> 1

    @property
    def cpha(self) -> int:
        return self.mode & 1

    def timing(self, clock_hz: float) -> AdcTiming:
        """The dividers at this core clock; refused when the rate is not a whole number of cycles within
        RATE_TOLERANCE, when SCLK would be too fast, or when a frame does not fit in a sample period."""
        if self.sclk_hz > SCLK_LIMIT_HZ:
            raise AdcError(f"SCLK {hz(self.sclk_hz)} is above the reader's limit of {hz(SCLK_LIMIT_HZ)}")
        if self.sclk_hz > clock_hz / (2 * MIN_HALF):
            raise AdcError(f"SCLK {hz(self.sclk_hz)} is faster than a {hz(clock_hz)} core clock can make "
                           f"(at most core / {2 * MIN_HALF} = {hz(clock_hz / (2 * MIN_HALF))})")
        period = max(1, round(clock_hz / self.rate_hz))
        error = abs(clock_hz / period - self.rate_hz) / self.rate_hz
        if error > RATE_TOLERANCE:
            raise AdcError(f"a {hz(clock_hz)} core clock cannot make a {hz(self.rate_hz)} sample rate: the nearest divider ({period}) gives "
                           f"{hz(clock_hz / period)}, {error:.3%} off (tolerance {RATE_TOLERANCE:.1%})")
        t = AdcTiming(clock_hz, period, math.ceil(clock_hz / (2 * self.sclk_hz)), self.lead + self.width)
        if t.frame > period:
            raise AdcError(f"a {t.bits}-bit frame at SCLK {hz(t.sclk_hz)} takes {t.frame} core cycles with its CS timing, longer than the "
                           f"{period}-cycle sample period at {hz(self.rate_hz)}: raise the SCLK limit (--adc-sclk) or lower the rate")
        return t

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def hz(f: float) -> str:
    """A frequency for a message: 12 kHz, 1.5 MHz."""
    for unit, scale in (("MHz", 1e6), ("kHz", 1e3)):
        if f >= scale:
            return f"{f / scale:g} {unit}"
    return f"{f:g} Hz"


class SpiAdc(wiring.Component):
    """The SPI master of one converter; `samples` carries `sample_bits`-bit samples: the converter's
    full scale is the stream's (data bits aligned at the MSB: narrower converters are shifted up,
    wider ones lose their low bits), and the most negative code is clipped to the symmetric range
    the front end takes (faultedge.ir.frontend.quantize_samples clips the same way)."""

    def __init__(self, settings: AdcSettings, clock_hz: float, sample_bits: int | None = None, overrun_bits: int = OVERRUN_BITS) -> None:
        self.settings, self.overrun_bits = settings, overrun_bits
        self.timing = settings.timing(clock_hz)
        self.sample_bits = sample_bits or settings.width
        cs_idle = int(settings.cs_active_low)
        super().__init__({"sclk": Out(1, init=settings.cpol), "cs": Out(1, init=cs_idle), "miso": In(1),
                          "samples": Out(samples_signature(self.sample_bits)), "overruns": Out(overrun_bits)})

    def elaborate(self, platform) -> Module:
        m = Module()
        s, t = self.settings, self.timing
        cs_active = Const(int(not s.cs_active_low), 1)
        tick = Signal(range(t.period), init=t.period - 1)  # counts down to the next sample tick
        half = Signal(range(t.half))
        edge = Signal(range(2 * t.bits + 1))  # the SCLK edge due next (2 * bits: the end of the frame)
        shreg = Signal(s.width)

        m.d.sync += tick.eq(Mux(tick == 0, t.period - 1, tick - 1))
        out = self.samples
        with m.If(out.valid & out.ready):
            m.d.sync += out.valid.eq(0)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(tick == 0):
                    m.d.sync += [self.cs.eq(cs_active), half.eq(t.half - 1), edge.eq(0)]
                    m.next = "FRAME"
            with m.State("FRAME"):
                with m.If(half != 0):
                    m.d.sync += half.eq(half - 1)
                with m.Elif(edge != 2 * t.bits):
                    leading = edge[0] == 0
                    m.d.sync += [half.eq(t.half - 1), edge.eq(edge + 1), self.sclk.eq(Mux(leading, 1 - s.cpol, s.cpol))]
                    with m.If(edge[0] == s.cpha):  # the reading edge
                        m.d.sync += shreg.eq(Cat(self.miso, shreg[:-1]))
                with m.Else():
                    m.d.sync += self.cs.eq(~cs_active)
                    with m.If(out.valid & ~out.ready):
                        with m.If(self.overruns != (1 << self.overrun_bits) - 1):
                            m.d.sync += self.overruns.eq(self.overruns + 1)
                    with m.Else():
                        m.d.sync += [out.payload.eq(self._convert(shreg)), out.valid.eq(1)]
                    m.next = "IDLE"
        return m

    def _convert(self, raw: Signal):
        """The frame's data bits -> a two's-complement sample at the stream's width (see the class docstring)."""
        s, bits = self.settings, self.sample_bits
        value = (raw ^ (1 << (s.width - 1)) if s.coding == "offset" else raw).as_signed()
        aligned = (value << (bits - s.width)) if bits >= s.width else (value >> (s.width - bits))
        low = -(1 << (bits - 1))
        return Mux(aligned == low, low + 1, aligned)
