"""The stream payloads between the front end's parts (faultedge.ir.frontend defines their integers).

    pairs_layout     window buffer -> FFT: one complex value z[n] = x[2n] + i x[2n+1] (sample_bits + 1
                     bits each: the guard bit), in order n = 0 .. M-1 within a window, `last` on n = M-1;
                     `void` on the rest of a burst the window buffer gave up (its window comes again)
    window_pairs     window buffer -> squarer, fft+envelope front ends: the pairs with `second` on the window's
                     second burst (the same samples again, to be squared for the envelope block)
    gains            squarer -> normalisation: each window's envelope gain (faultedge.ir.frontend.window_gain)
    bins_layout      FFT (with its split) -> magnitude: one spectrum bin X[k], k = 1 .. M, in any order
                     the architecture produces them, `last` on the window's final bin
"""

from __future__ import annotations

from amaranth import signed, unsigned
from amaranth.lib import data, stream

from faultedge.ir.frontend import GAIN_MAX, FrontEnd


def pairs_layout(fe: FrontEnd) -> data.StructLayout:
    w = fe.widths[0]
    return data.StructLayout({"re": signed(w), "im": signed(w), "last": unsigned(1), "void": unsigned(1)})


def window_pairs_layout(fe: FrontEnd) -> data.StructLayout:
    w = fe.widths[0]
    return data.StructLayout({"re": signed(w), "im": signed(w), "last": unsigned(1), "void": unsigned(1), "second": unsigned(1)})


def gains_signature() -> stream.Signature:
    return stream.Signature(unsigned(GAIN_MAX.bit_length()))


def bins_layout(fe: FrontEnd) -> data.StructLayout:
    w = fe.spectrum_bits
    return data.StructLayout({"bin": unsigned(fe.points.bit_length()), "re": signed(w), "im": signed(w), "last": unsigned(1)})


def pairs_signature(fe: FrontEnd) -> stream.Signature:
    return stream.Signature(pairs_layout(fe))


def bins_signature(fe: FrontEnd) -> stream.Signature:
    return stream.Signature(bins_layout(fe))
