"""A sum of products on one small multiplier: the iterative front end's magnitude and normalisation.

Operands wider than one SB_MAC16 (16 x 16 bits) are cut into pieces (plan.pieces) and their products
summed with the pieces' shifts (plan.square_terms, plan.product_terms), one product per cycle:

    issue     term i's x and y pieces into the operand registers (the owner drives `issue` and `step`)
    + 1       the product register (the operands, the multiplier and its output registers: one SB_MAC16)
    + 2       the accumulator: the product shifted by the term's weight, replacing the sum on term 0
              (`done` in the cycle of the last term's accumulation: the sum is complete the cycle after)
"""

from __future__ import annotations

from amaranth import Array, Module, Mux, Signal, Value, unsigned


def serial_sum(m: Module, name: str, terms: list[tuple[Value, Value, int]], issue: Value, step: Value, width: int) -> tuple[Signal, Signal]:
    """sum(x * y << shift) over `terms` (unsigned x, y), one term per cycle in which `issue` is high (term `step`);
    returns the `width`-bit sum and `done`."""
    xw, yw = max(len(x) for x, _, _ in terms), max(len(y) for _, y, _ in terms)
    x, y = Signal(unsigned(xw), name=f"{name}_x"), Signal(unsigned(yw), name=f"{name}_y")
    product = Signal(unsigned(xw + yw), name=f"{name}_product")
    index1, index2 = Signal(range(len(terms)), name=f"{name}_index1"), Signal(range(len(terms)), name=f"{name}_index2")
    valid1, valid2 = Signal(name=f"{name}_valid1"), Signal(name=f"{name}_valid2")
    acc = Signal(unsigned(width), name=f"{name}_sum")
    with m.If(issue):
        with m.Switch(step):
            for i, (tx, ty, _) in enumerate(terms):
                with m.Case(i):
                    m.d.sync += [x.eq(tx), y.eq(ty)]
    m.d.sync += [valid1.eq(issue), index1.eq(step), product.eq(x * y), valid2.eq(valid1), index2.eq(index1)]
    shifted = Array(product << s for _, _, s in terms)[index2]
    with m.If(valid2):
        m.d.sync += acc.eq(Mux(index2 == 0, 0, acc) + shifted)
    done = Signal(name=f"{name}_done")
    m.d.comb += done.eq(valid2 & (index2 == len(terms) - 1))
    return acc, done
