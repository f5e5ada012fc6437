"""The exact golden-vs-network check every quantisation stage makes before it writes an IR."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from faultedge.errors import IRError
from faultedge.ir import IRModel
from faultedge.ir import golden


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


