"""Core clocks from the board oscillator: PLL settings per family and the PLL instance.

Each solver returns the highest output frequency the PLL can make that is <= the requested one
(the core clock must never exceed what place and route achieved), with the divider settings,
following the vendors' ranges (the same ones ecppll, icepll and Vivado's clocking wizard use).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from amaranth.hdl import Instance, Module, Signal

from faultedge.errors import FaultedgeError


@dataclass(frozen=True)
class ClockPlan:
    """The core clock and how it is made: `params` empty means the board clock drives the core."""

    family: str
    board_mhz: float
    core_mhz: float
    params: dict[str, Any]

    @property
    def uses_pll(self) -> bool:
        return bool(self.params)


def _best(candidates, target: float, what: str, board_mhz: float) -> tuple[float, dict[str, Any]]:
    ok = [(f, p) for f, p in candidates if f <= target + 1e-9]
    if not ok:
        raise FaultedgeError(f"no {what} setting makes <= {target:.2f} MHz from the {board_mhz:g} MHz board clock")
    return max(ok, key=lambda fp: fp[0])


def _ecp5(fin: float, target: float) -> tuple[float, dict[str, Any]]:
    """EHXPLLL: PFD 3.125..400 MHz, VCO 400..800 MHz, output <= 400 MHz, feedback from CLKOP."""
    cands = []
    for in_div in range(1, 129):
        pfd = fin / in_div
        if not 3.125 <= pfd <= 400:
            continue
        for fb_div in range(1, 81):
            fout = pfd * fb_div
            if fout > 400:
                break
            for op_div in range(1, 129):
                if 400 <= fout * op_div <= 800:
                    cands.append((fout, {"CLKI_DIV": in_div, "CLKFB_DIV": fb_div, "CLKOP_DIV": op_div}))
                    break
    return _best(cands, target, "ECP5 PLL", fin)


def _ice40(fin: float, target: float) -> tuple[float, dict[str, Any]]:
    """SB_PLL40 (simple feedback): PFD 10..133 MHz, VCO 533..1066 MHz, output 16..275 MHz."""
    cands = []
    for divr in range(16):
        pfd = fin / (divr + 1)
        if not 10 <= pfd <= 133:
            continue
        filt = next(i for i, lim in enumerate((17, 26, 44, 66, 101, float("inf")), start=1) if pfd < lim)
        for divf in range(128):
            vco = pfd * (divf + 1)
            if not 533 <= vco <= 1066:
                continue
            for divq in range(1, 7):
                fout = vco / (1 << divq)
                if 16 <= fout <= 275:
                    cands.append((fout, {"DIVR": divr, "DIVF": divf, "DIVQ": divq, "FILTER_RANGE": filt}))
    return _best(cands, target, "iCE40 PLL", fin)


def _xilinx(fin: float, target: float) -> tuple[float, dict[str, Any]]:
    """MMCME2_BASE with integer settings: PFD 10..450 MHz, VCO 600..1200 MHz (every 7-series speed grade)."""
    cands = []
    for div in range(1, 107):
        pfd = fin / div
        if not 10 <= pfd <= 450:
            continue
        for mult in range(2, 65):
            vco = pfd * mult
            if not 600 <= vco <= 1200:
                continue
            odiv = max(1, math.ceil(vco / target - 1e-9))  # the smallest divider at or below the target
            if odiv <= 128:
                cands.append((vco / odiv, {"DIVCLK_DIVIDE": div, "CLKFBOUT_MULT_F": float(mult), "CLKOUT0_DIVIDE_F": float(odiv)}))
    return _best(cands, target, "MMCM", fin)


SOLVERS = {"ecp5": _ecp5, "ice40": _ice40, "xilinx": _xilinx}


def plan_clock(family: str, board_mhz: float, target_mhz: float) -> ClockPlan:
    """The fastest core clock <= target_mhz: a PLL output, or the board clock itself when that is as fast
    (a design slower than the PLL's minimum output still runs from a slow enough board clock)."""
    try:
        fout, params = SOLVERS[family](board_mhz, target_mhz)
    except FaultedgeError:
        if board_mhz > target_mhz:
            raise
        fout, params = board_mhz, {}
    if board_mhz <= target_mhz and board_mhz >= fout:
        return ClockPlan(family, board_mhz, board_mhz, {})
    return ClockPlan(family, board_mhz, round(fout, 6), params)


def pll_instance(m: Module, plan: ClockPlan, clk_in: Signal, pll: str = "") -> tuple[Signal, Signal]:
    """Add the PLL to `m`; returns (core clock, locked)."""
    out, locked = Signal(), Signal()
    p = plan.params
    if plan.family == "ecp5":
        m.submodules.pll = Instance(
            "EHXPLLL",
            a_FREQUENCY_PIN_CLKI=f"{plan.board_mhz:g}", a_FREQUENCY_PIN_CLKOP=f"{plan.core_mhz:g}",
            a_ICP_CURRENT="12", a_LPF_RESISTOR="8", a_MFG_ENABLE_FILTEROPAMP="1", a_MFG_GMCREF_SEL="2",
            p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED", p_DPHASE_SOURCE="DISABLED",
            p_OUTDIVIDER_MUXA="DIVA", p_OUTDIVIDER_MUXB="DIVB", p_OUTDIVIDER_MUXC="DIVC", p_OUTDIVIDER_MUXD="DIVD",
            p_CLKI_DIV=p["CLKI_DIV"], p_CLKOP_ENABLE="ENABLED", p_CLKOP_DIV=p["CLKOP_DIV"],
            p_CLKOP_CPHASE=p["CLKOP_DIV"] - 1, p_CLKOP_FPHASE=0, p_FEEDBK_PATH="CLKOP", p_CLKFB_DIV=p["CLKFB_DIV"],
            i_RST=0, i_STDBY=0, i_CLKI=clk_in, o_CLKOP=out, i_CLKFB=out, i_PHASESEL0=0, i_PHASESEL1=0,
            i_PHASEDIR=1, i_PHASESTEP=1, i_PHASELOADREG=1, i_PLLWAKESYNC=0, i_ENCLKOP=0, o_LOCK=locked,
        )
    elif plan.family == "ice40":
        pad = "i_PACKAGEPIN" if pll == "SB_PLL40_PAD" else "i_REFERENCECLK"
        m.submodules.pll = Instance(
            pll, p_FEEDBACK_PATH="SIMPLE", p_DIVR=p["DIVR"], p_DIVF=p["DIVF"], p_DIVQ=p["DIVQ"],
            p_FILTER_RANGE=p["FILTER_RANGE"], i_RESETB=1, i_BYPASS=0, o_PLLOUTGLOBAL=out, o_LOCK=locked,
            **{pad: clk_in},
        )
    else:
        fb, raw = Signal(), Signal()
        m.submodules.mmcm = Instance(
            "MMCME2_BASE", p_CLKIN1_PERIOD=round(1000 / plan.board_mhz, 3), p_DIVCLK_DIVIDE=p["DIVCLK_DIVIDE"],
            p_CLKFBOUT_MULT_F=p["CLKFBOUT_MULT_F"], p_CLKOUT0_DIVIDE_F=p["CLKOUT0_DIVIDE_F"],
            i_CLKIN1=clk_in, i_CLKFBIN=fb, o_CLKFBOUT=fb, o_CLKOUT0=raw, o_LOCKED=locked, i_RST=0, i_PWRDWN=0,
        )
        m.submodules.bufg = Instance("BUFG", i_I=raw, o_O=out)
    return out, locked
