"""maia-hdl's twiddle multiplier with one more register after each product, for the clock on ECP5.

maia-hdl's `Cmult` computes (re_a + i im_a)(re_b + i im_b) with three products, registers each
product once and adds. On ECP5, yosys maps a product to MULT18X18D blocks without their internal
registers, so the product register is a fabric flip-flop; when the placer puts it far from the DSP
column, the wire from the multiplier sets the design's Fmax (71 MHz on the ULX3S-85F, the
critical path of docs/results/frontend.md). One more register lets the placer keep the first near
the DSP and the second near the adder. The arithmetic is maia-hdl's exactly; the delay is 7, and
`Twiddle` and `FFTControl` follow it (they ask the multiplier for its delay).

    cycle  1: a, b registered            4: mult0_q; add_re, add_im
           2: add_common = re_a - im_a   5: common = mult0_q; mult_re, mult_im (products)
           3: mult0 = add_common * im_b  6: common's two copies; mult_re_q, mult_im_q
                                         7: re_prod = mult_re_q + common, im_prod likewise
"""

from __future__ import annotations

from amaranth import Module, Signal, signed
from maia_hdl.cmult import Cmult

DELAY = 7


class RegisteredCmult(Cmult):
    """maia-hdl's `Cmult` (same ports, same arithmetic) with each product registered twice."""

    @property
    def delay(self) -> int:
        return DELAY

    def elaborate(self, platform) -> Module:
        m = Module()
        aw, bw, multw = self.aw, self.bw, self.aw + self.bw + 1

        def regs(name: str, width: int, n: int) -> list[Signal]:
            return [Signal(signed(width), name=f"{name}{i + 1}", reset_less=True) for i in range(n)]

        re_a, im_a = regs("re_a_q", aw, 4), regs("im_a_q", aw, 4)
        re_b, im_b = regs("re_b_q", bw, 3), regs("im_b_q", bw, 3)
        add_common = Signal(signed(aw + 1), reset_less=True)
        add_re, add_im = Signal(signed(bw + 1), reset_less=True), Signal(signed(bw + 1), reset_less=True)
        mult0, mult0_q, common = regs("mult0_", multw, 3)
        common_re, common_im = Signal(signed(multw), reset_less=True), Signal(signed(multw), reset_less=True)
        mult_re, mult_re_q = regs("mult_re_", multw, 2)
        mult_im, mult_im_q = regs("mult_im_", multw, 2)
        re_prod, im_prod = Signal(signed(multw), reset_less=True), Signal(signed(multw), reset_less=True)

        with m.If(self.clken):
            for line, first in ((re_a, self.re_a), (im_a, self.im_a), (re_b, self.re_b), (im_b, self.im_b)):
                m.d.sync += [line[0].eq(first), *(line[j].eq(line[j - 1]) for j in range(1, len(line)))]
            m.d.sync += [  # the common factor (re_a - im_a) * im_b, cycles 2-6
                add_common.eq(re_a[0] - im_a[0]),
                mult0.eq(add_common * im_b[1]),
                mult0_q.eq(mult0),
                common.eq(mult0_q),
                common_re.eq(common),
                common_im.eq(common),
            ]
            m.d.sync += [  # the real and imaginary products, cycles 4-7
                add_re.eq(re_b[2] - im_b[2]),
                mult_re.eq(add_re * re_a[3]),
                mult_re_q.eq(mult_re),
                re_prod.eq(mult_re_q + common_re),
                add_im.eq(re_b[2] + im_b[2]),
                mult_im.eq(add_im * im_a[3]),
                mult_im_q.eq(mult_im),
                im_prod.eq(mult_im_q + common_im),
            ]
        m.d.comb += [self.re_out.eq(re_prod >> self.truncate), self.im_out.eq(im_prod >> self.truncate)]
        return m
