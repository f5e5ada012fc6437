"""The integer IR package: the one contract between quantisation and every integer consumer.

Numpy only, so hardware generation, simulation and FPGA builds never load torch or Brevitas
(a test enforces it):

    model       the IR itself (versioned dataclasses <-> canonical JSON, validated on load)
    golden      integer-only inference from the IR: the arithmetic contract
    files       the names of a quantised network's files in a run directory
    provenance  library versions recorded with every artifact
    intmath     small integer helpers (ranges, widths, powers of two)
"""

from faultedge.ir.intmath import bits_for, int_range, is_pow2
from faultedge.ir.model import (
    IR_FORMAT, IR_VERSION, MAC_LAYERS, OPS, Add, Argmax, AttentionNorm, AvgPool2d, Conv1d, IntTensor, IRModel, KWConv2d, Layer, Linear,
    MaxPool1d, Quantizer, Requant, Shift, dispatch,
)

__all__ = [
    "IR_FORMAT", "IR_VERSION", "MAC_LAYERS", "OPS", "Add", "Argmax", "AttentionNorm", "AvgPool2d", "Conv1d", "IntTensor", "IRModel", "KWConv2d",
    "Layer", "Linear", "MaxPool1d", "Quantizer", "Requant", "Shift", "bits_for", "dispatch", "int_range", "is_pow2",
]
