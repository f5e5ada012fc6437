"""The axial-shift MLP on the 1-D engine: the shift as a write offset with zero fill, the residual add as a
second operand into the requantiser, clear errors, deterministic Verilog, and cocotb + Verilator bit- and
cycle-exact against the golden model on real CWRU windows and extremes."""

from __future__ import annotations

import dataclasses
import hashlib
import shutil

import numpy as np
import pytest
from test_hdl import _verilog_sha_in_subprocess

from faultedge.cli import main
from faultedge.errors import IRError
from faultedge.families import family
from faultedge.hdl import generate_verilog, plan
from faultedge.hdl.cycles import model
from faultedge.hdl.plan import POST_ACC, PRE_TREE, Residual
from faultedge.ir import Add, IRModel, Shift
from faultedge.ir.files import Artifacts
from faultedge.quant.qat import QATConfig
from faultedge.quant.stage import quantize
from faultedge.runs import RunDir, read_json
from faultedge.sim.verify import verify

ART = Artifacts("axmlp", 8)


@pytest.fixture(scope="module")
def hdl_run(axmlp_run, tmp_path_factory):
    """The axial-shift MLP quantised to 8 and 16 bits in a copy of the trained run."""
    run = RunDir(tmp_path_factory.mktemp("axmlp_hdl") / "run")
    shutil.copytree(axmlp_run.path, run.path)
    for bits in (8, 16):
        quantize(run, family("axmlp"), QATConfig(bits=bits, epochs=1), progress=False)
    return run


@pytest.fixture(scope="module")
def ir(hdl_run) -> IRModel:
    return IRModel.load(hdl_run / ART.ir)


@pytest.fixture(scope="module")
def x_int(hdl_run) -> np.ndarray:
    with np.load(hdl_run / ART.vectors) as z:
        return z["x_int"]


def test_the_shift_is_a_write_offset_and_the_add_folds_into_the_stage_before(ir):
    p = plan(ir, 16, 1)
    assert [s.name for s in p.stages] == ["embed", "block0.fc1", "block0.fc2", "block1.fc1", "block1.fc2", "reduce", "fc"]
    shifts = [l for l in ir.layers if isinstance(l, Shift)]
    adds = [l for l in ir.layers if isinstance(l, Add)]
    for k, (fc1, fc2) in enumerate([(1, 2), (3, 4)]):
        mem = p.stages[fc1].in_mem  # the block input, written shifted: channel c of position l at position l + offset[c]
        assert mem.shifts == shifts[k].offsets and mem.stride % mem.banks == 0 and mem.offset >= mem.stride  # a margin of one position
        assert p.stages[fc2].residual == Residual(fc1, adds[k].skip_shift)  # the block input is read back from that memory
        assert p.stages[fc2].requant == adds[k].requant and p.stages[fc2].acc_bits >= adds[k].acc_bits
        assert p.stages[fc2].pc <= mem.banks
    assert p.post_acc == POST_ACC + 1  # the residual adder's register, for every stage
    cm = model(p)
    assert cm.stages == tuple(s.issue_cycles + PRE_TREE + s.tree_levels + POST_ACC + 1 for s in p.stages)
    assert (sum(s.issue_cycles for s in p.stages), cm.bound) == (1_824, 1_752)  # idle lanes: the 3-channel reduce and the head
    assert cm.compute == 1_915  # the CNN student at 16 lanes: 2,242 (docs/results/sdd.md)


def test_ops_the_engine_cannot_run_get_clear_errors(ir):
    layers = list(ir.layers)
    embed_add = dataclasses.replace(layers[4], skip="embed")
    with pytest.raises(IRError, match=r"layer 'shift0': the hardware generator \(faultedge\.hdl\) shifts a map one stage writes for the conv1d/linear right after"):
        plan(dataclasses.replace(ir, layers=(layers[1], *layers[1:])), 16)  # a shift of the network input
    fc2_input = dataclasses.replace(layers[4], skip="block0.fc1")
    with pytest.raises(IRError, match=r"layer 'block0': .* adds the input of an earlier stage other than the first \(a block input\), got 'block0.fc1'"):
        plan(dataclasses.replace(ir, layers=(*layers[:4], fc2_input, *layers[5:])), 16)
    finer_skip = dataclasses.replace(embed_add, acc_shift=2, skip_shift=0)
    with pytest.raises(IRError, match=r"layer 'block0': .* the accumulators must be on the finer grid \(acc_shift 0, got 2\)"):
        plan(dataclasses.replace(ir, layers=(*layers[:4], finer_skip, *layers[5:])), 16)
    padded = dataclasses.replace(layers[2], padding=1)
    with pytest.raises(IRError, match=r"layer 'shift0': .* a shift must feed an unpadded conv1d or a linear"):
        plan(dataclasses.replace(ir, layers=(*layers[:2], padded, *layers[3:])), 16)
    with pytest.raises(IRError, match=r"layer 'block0': .* folds an add into the conv1d/linear right before it"):
        plan(dataclasses.replace(ir, layers=(layers[0], layers[4], *layers[5:])), 16)  # after a requantised stage


def test_verilog_is_byte_identical_across_processes(hdl_run, ir):
    here = hashlib.sha256(generate_verilog(ir, 16, 1).encode()).hexdigest()
    assert _verilog_sha_in_subprocess(hdl_run / ART.ir, 16, 1, "4242") == here
    assert "res_row" in generate_verilog(ir, 16, 1)


@pytest.mark.slow
@pytest.mark.parametrize("bits, lanes, beat", [(8, 16, 1), (8, 64, 16), (16, 16, 4)])
def test_bit_and_cycle_exact_on_real_windows_and_extremes(hdl_run, bits, lanes, beat):
    art = Artifacts("axmlp", bits)
    ir = IRModel.load(hdl_run / art.ir)
    with np.load(hdl_run / art.vectors) as z:
        x_int = z["x_int"]
    report = verify(ir, generate_verilog(ir, lanes, beat), lanes, beat, x_int[:60], n_random=6, n_backpressure=6, seed=lanes)
    assert report["vectors"] == {"vectors": 60, "random": 6, "extremes": 4, "backpressure": 6, "total": 76}
    assert report["mismatches"] == {"samples": 0, "logits": 0, "classes": 0, "first": []} and report["bit_exact"]
    cyc = report["cycles"]
    assert cyc["match"] and cyc["measured"]["per_inference_min"] == cyc["measured"]["per_inference_max"] == model(plan(ir, lanes, beat)).per_inference


@pytest.mark.slow
def test_a_design_without_the_shift_disagrees(ir, x_int):
    """The check has teeth: the engine of the same network with zero shifts is caught against the golden model."""
    unshifted = dataclasses.replace(ir, layers=tuple(dataclasses.replace(l, offsets=(0,) * len(l.offsets)) if isinstance(l, Shift) else l
                                                     for l in ir.layers))
    report = verify(ir, generate_verilog(unshifted, 16, 1), 16, 1, x_int[:8], n_random=0, n_backpressure=0, seed=0)
    assert report["mismatches"]["samples"] > 0 and not report["bit_exact"]


@pytest.mark.slow
def test_hdl_and_sim_commands_through_the_family(hdl_run, capsys):
    assert family("axmlp").steps == ("train", "quantize", "export", "hdl", "sim", "fpga", "bundle")
    assert main(["hdl", str(hdl_run.path), "--network", "axmlp"]) == 0
    design = read_json(hdl_run / "hdl/design.json")
    assert (design["network"], design["engine"], design["lanes"], design["beat"]) == ("axmlp", "mac1d", 16, 1)
    assert main(["sim", str(hdl_run.path), "--limit", "20", "--random", "2", "--backpressure", "2", "--quiet"]) == 0
    report = read_json(hdl_run / "sim/report.json")
    assert report["bit_exact"] and report["mismatches"]["samples"] == 0 and report["cycles"]["match"]
