"""The image engine (MKW-Net in hardware): bit- and cycle-exact in cocotb + Verilator against the
golden model, on a MKW-Net trained and quantised on real CWRU wavelet images, and clear errors for
what it cannot run.

The network here has MKW-Net's structure (three KernelWarehouse blocks, a warehouse shared by
blocks 2 and 3, the linear head) at 8 x 8 pixels and widths (8, 16, 16), so one inference takes
about 20 k cycles instead of the full network's 400 k; `benchmarks/mkw_hw.py` simulates the
full-size network.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch

from faultedge.data.images import ImageDataSpec, build_image_sets
from faultedge.errors import IRError
from faultedge.hdl import generate_verilog, plan
from faultedge.hdl.cycles import model
from faultedge.hdl.image_plan import PASS_DRAIN, ImagePlan
from faultedge.ir import IRModel
from faultedge.families.mkw import MKW_NET, image_quant_data
from faultedge.models.mkw import MKWNet
from faultedge.ir import golden
from faultedge.quant.mkw_qat import MKWQATConfig
from faultedge.quant.stage import quantize_network
from faultedge.sim.verify import verify
from faultedge.train.image_train import ImageTrainConfig, train_image_model

WIDTHS = (8, 16, 16)
ENGINE = MKW_NET.engine


@pytest.fixture(scope="module")
def cwru_mkw(cwru_dir) -> tuple[IRModel, np.ndarray]:
    """A small MKW-Net trained (tau annealed to 0, so every image gets its own kernels) and quantised
    on real CWRU 0 hp wavelet images at 8 x 8, and integer test images."""
    spec = ImageDataSpec.for_source(str(cwru_dir), seed=0, snr_db=None, n_train=24, n_val=8, n_test=8)
    sets = build_image_sets(replace(spec, cwt=replace(spec.cwt, size=8)))
    torch.manual_seed(0)
    net = MKWNet(sets.image_shape[0], sets.n_classes, channels=WIDTHS, image_size=8)
    train_image_model(net, sets.train, sets.val, ImageTrainConfig(epochs=6, batch_size=32, anneal_epochs=2, patience=6), seed=0, progress=False)
    q = quantize_network(MKW_NET, net, image_quant_data(sets), MKWQATConfig(epochs=1, batch_size=32, calibration_images=128), progress=False)
    assert q.check["mismatched_logits"] == 0
    x = golden.quantize_input(q.ir, sets.test[0])
    kernels = golden.kw_kernels(x, q.ir.layers[0]).reshape(len(x), -1)
    _, first = np.unique(kernels, axis=0, return_index=True)
    assert len(first) > len(x) // 2  # the attention gives most images kernels of their own
    return q.ir, x[np.sort(first)[:8]]  # eight images with eight different first-layer kernels


def test_plan_counts_every_phase_and_the_cycle_model_adds_them(cwru_mkw):
    ir, _ = cwru_mkw
    p = plan(ir, 4, 2, engine_name=ENGINE)
    assert isinstance(p, ImagePlan) and [b.warehouse for b in p.blocks] == [0, 1, 1]
    phases = dict(p.cycle_phases())
    conv0 = p.blocks[0].conv
    assert phases["kw0.conv"] == 8 * 8 * 8 // 4 * conv0.reduce + PASS_DRAIN  # pixels x output groups x (C_in * 9), + drain
    assert phases["fc"] == -(-ir.logits_layer.out_shape[0] // 4) * ir.logits_layer.weight.data.shape[1] + PASS_DRAIN
    cm = model(p)
    assert cm.compute == 1 + sum(phases.values()) + len(ir.classes) + 1
    assert cm.per_inference == cm.load + cm.compute and cm.load == ir.input.shape[1] * ir.input.shape[2] // 2
    assert cm.bound <= cm.compute  # the bound counts MACs only


def test_image_engine_is_bit_and_cycle_exact_on_real_images(cwru_mkw):
    ir, x = cwru_mkw
    report = verify(ir, generate_verilog(ir, 4, 2, ENGINE), 4, 2, x, n_random=4, n_backpressure=6, seed=1, engine=ENGINE)
    assert report["vectors"]["total"] == len(x) + 4 + 4 + 6
    assert report["mismatches"]["logits"] == 0 and report["bit_exact"], report["mismatches"]["first"]
    assert report["cycles"]["match"], report["cycles"]


def test_one_lane_engine_is_bit_exact_too(cwru_mkw):
    ir, x = cwru_mkw
    report = verify(ir, generate_verilog(ir, 1, 1, ENGINE), 1, 1, x[:2], n_random=1, n_backpressure=2, seed=2, engine=ENGINE)
    assert report["bit_exact"], report["mismatches"]["first"]
    assert report["cycles"]["match"], report["cycles"]


def test_a_changed_attention_epsilon_is_caught(cwru_mkw):
    """The comparison is sensitive to the division: golden with eps + 40 differs from the RTL."""
    ir, x = cwru_mkw
    layer = ir.layers[0]
    bad = replace(ir, layers=(replace(layer, norm=replace(layer.norm, eps=layer.norm.eps + 40)), *ir.layers[1:]))
    report = verify(bad, generate_verilog(ir, 4, 2, ENGINE), 4, 2, x[:4], n_random=1, n_backpressure=1, seed=1, engine=ENGINE)
    assert report["mismatches"]["logits"] > 0 and not report["bit_exact"]


def test_verilog_is_the_same_in_another_process(cwru_mkw, tmp_path):
    ir, _ = cwru_mkw
    path = tmp_path / "mkw.ir.json"
    ir.save(path)
    code = ("import sys, hashlib; from faultedge.ir import IRModel; from faultedge.hdl import generate_verilog; "
            "print(hashlib.sha256(generate_verilog(IRModel.load(sys.argv[1]), 4, 2, 'image').encode()).hexdigest())")
    other = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True).stdout.strip()
    assert other == hashlib.sha256(generate_verilog(ir, 4, 2, ENGINE).encode()).hexdigest()


def test_unfit_options_and_networks_are_refused_clearly(cwru_mkw):
    ir, _ = cwru_mkw
    with pytest.raises(IRError, match=r"lanes \(16\) must divide the cell rows"):
        plan(ir, 16, engine_name=ENGINE)
    with pytest.raises(IRError, match="lanes must be a power of two"):
        plan(ir, 3, engine_name=ENGINE)
    with pytest.raises(IRError, match="beat must be a power of two dividing the 64 pixels"):
        plan(ir, 4, 128, engine_name=ENGINE)
    with pytest.raises(IRError, match=r"\(kwconv2d \[avgpool2d\]\)\+ linear argmax"):
        plan(replace(ir, layers=ir.layers[:-1]), 4, engine_name=ENGINE)
