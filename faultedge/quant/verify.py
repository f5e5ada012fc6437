"""What every quantisation stage shares: artifact names, and the exact golden-vs-network check.

Kept free of Brevitas imports, so that reading artifact names stays quick.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from faultedge.errors import IRError
from faultedge.ir import IRModel
from faultedge.quant import golden


@dataclass(frozen=True)
class Artifacts:
    """File names of one quantised network in a run directory."""

    network: str
    bits: int

    @property
    def suffix(self) -> str:
        return ("" if self.network == "student" else f"_{self.network}") + ("" if self.bits == 8 else f"_{self.bits}bit")

    @property
    def qat(self) -> str:
        return f"qat{self.suffix}.pt"

    @property
    def ir(self) -> str:
        return f"model{self.suffix}.ir.json"

    @property
    def vectors(self) -> str:
        return f"golden_vectors{self.suffix}.npz"

    @property
    def metrics_key(self) -> str:
        return f"quant_{self.network}_{self.bits}bit"


@torch.no_grad()
def brevitas_logits_f64(net: torch.nn.Module, features: torch.Tensor, batch: int = 500) -> np.ndarray:
    """A quantised network's forward (Brevitas, with MKW-Net's exact division) in float64, where every integer sum is exact."""
    net.double()
    try:
        return torch.cat([net(features[i : i + batch].double()) for i in range(0, len(features), batch)]).numpy()
    finally:
        net.float()


def verify_golden(ir: IRModel, net: torch.nn.Module, features: torch.Tensor, reference: str = "Brevitas") -> dict[str, Any]:
    """Golden logits * output scale must equal the quantised network's logits (the Brevitas QAT model,
    MKW-Net's included) for every sample, exactly."""
    res = golden.predict(ir, features.numpy())
    ref = brevitas_logits_f64(net, features)
    mismatch = golden.dequantized_logits(ir, res.logits) != ref
    report = {"samples": int(len(features)), "mismatched_logits": int(mismatch.sum()), "mismatched_samples": int(mismatch.any(1).sum())}
    if report["mismatched_logits"]:
        i = int(np.flatnonzero(mismatch.any(1))[0])
        raise IRError(f"golden model disagrees with {reference} on {report['mismatched_samples']} sample(s); first: sample {i}, "
                      f"golden {golden.dequantized_logits(ir, res.logits[i]).tolist()} vs {reference} {ref[i].tolist()}")
    return report


