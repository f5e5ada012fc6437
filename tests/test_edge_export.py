"""ONNX export: parity with PyTorch/Brevitas on the real CWRU test set, and every preprocessing
front end held to `Preprocessing.__call__` (the one specification)."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from faultedge.data.features import Preprocessing
from faultedge.data.synthetic import synthesize_recordings
from faultedge.edge import exported, onnx_export, runner
from faultedge.edge.artifacts import ALL_MODELS, OnnxModel
from faultedge.errors import DataError
from faultedge.ir import IRModel
from faultedge.families import STUDENT
from faultedge.ir.files import Artifacts
from faultedge.runs import read_json, write_json


def test_export_matches_pytorch_and_brevitas_on_the_whole_test_set(edge_run):
    run, report = edge_run
    parity = report["parity"]
    assert parity["windows"] == 1000
    for precision in ("fp32", "int8"):
        assert parity[f"{precision}_features"]["max_abs_logit_diff"] <= 1e-4
        for front in runner.FRONTS:
            assert parity[f"{precision}_{front}"]["argmax_agree"] == 1000
    for front, diff in parity["features_max_abs_diff"].items():
        assert diff <= 1e-5, front
    # Independently of export's own check: reload the files and compare with the torch networks.
    windows, _ = onnx_export.test_windows(run)
    features = Preprocessing.from_dict(read_json(run / "preprocessing.json"))(windows)
    with torch.no_grad():
        refs = {"fp32": STUDENT.float_model(run)[0](torch.from_numpy(features)).numpy(),
                "int8": STUDENT.load_qat(run, 8)(torch.from_numpy(features)).numpy()}
    for precision, ref in refs.items():
        path = run / "onnx" / OnnxModel(precision, "features").name
        model = onnx.load(path)
        onnx.checker.check_model(model, full_check=True)
        got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"features": features})[0]
        assert np.abs(got - ref).max() <= 1e-4
        np.testing.assert_array_equal(got.argmax(1), ref.argmax(1))
    int8 = onnx.load(run / "onnx" / "model_int8_qdq.onnx")
    assert {"QuantizeLinear", "DequantizeLinear"} <= {n.op_type for n in int8.graph.node}
    assert any(init.data_type == onnx.TensorProto.INT8 for init in int8.graph.initializer)
    opsets = {m.name: onnx.load(run / "onnx" / m.name).opset_import[0].version for m in ALL_MODELS}
    assert opsets["model_fp32_magnitude.onnx"] == 13 and opsets["model_int8_qdq_window.onnx"] == 17


def test_int8_sessions_equal_brevitas_with_full_range_weights_and_inputs(edge_run):
    """Fused, ORT runs QDQ convolutions in u8 x s8 kernels whose int16 pair sums saturate on x86
    (seen on a demo run: 60 off on a logit for an all-max window). The runner's sessions keep the
    QDQ graph unfused, which equals Brevitas exactly. Saturation needs large neighbouring weights,
    so the conv weights are scaled to use the full 8-bit range; inputs cover the input range."""
    run, _ = edge_run
    net = STUDENT.load_qat(run, 8).eval()
    conv = net.macs[0]
    with torch.no_grad():
        conv.weight.mul_(120.0 / float(conv.quant_weight().int().abs().max()))
    q = IRModel.load(run / "model.ir.json").input  # the network's input range
    lo, hi = (np.ldexp(float(c), q.scale_exp) for c in q.clamp)
    bins = int(np.prod(q.shape))
    rng = np.random.default_rng(0)
    extremes = np.stack([np.full(bins, hi), np.full(bins, lo), np.resize([hi, lo], bins), np.resize([lo, hi], bins)])
    x = np.concatenate([extremes, rng.uniform(lo, hi, (500, bins))]).astype(np.float32)
    with torch.no_grad():
        ref = net(torch.from_numpy(x)).numpy()
    session = runner.make_session(onnx_export.export_int8_qdq(net, bins).SerializeToString(), ["CPUExecutionProvider"])
    got = session.run(None, {"features": x})[0]
    assert np.abs(got - ref).max() == 0.0


@pytest.mark.parametrize("front", ["magnitude", "window"])
def test_every_front_end_follows_the_preprocessing_spec(edge_run, front):
    """Real CWRU windows with the run's spec, and synthetic windows with a spec fitted on them:
    a front end that ignored a spec field would fail one of them."""
    run, _ = edge_run
    prep = Preprocessing.from_dict(read_json(run / "preprocessing.json"))
    windows, _ = onnx_export.test_windows(run)
    synth = np.stack([r.signal[i * 2048:(i + 1) * 2048] for r in synthesize_recordings(1, seed=3) for i in range(4)])
    other = Preprocessing.fit(synth)
    for spec, x in ((prep, windows[:300]), (other, synth), (other, synth.astype(np.float32))):
        got = onnx_export.front_end(runner.Spec(spec.to_dict()), front).logits(x)
        assert np.abs(got - spec(x)).max() <= 1e-5


def test_unknown_spec_versions_and_transforms_are_refused(edge_run, tmp_path):
    run, _ = edge_run
    good = read_json(run / "preprocessing.json")
    for change, message in (({"version": 3}, "version 3 is not supported"), ({"transform": "log(abs(fft(x)))"}, "unknown transform"),
                            ({"version": 2}, "unknown transform .* for version 2"),
                            ({"std": [0.0] * 1024}, "'std' must be positive"), ({"window": 2047}, "multiple of 2 samples")):
        with pytest.raises(runner.RunnerError, match=message):
            runner.Spec({**good, **change})
    with pytest.raises(runner.RunnerError, match="missing field 'mean'"):
        runner.Spec({k: v for k, v in good.items() if k != "mean"})
    # the faultedge side refuses the same spec before exporting anything
    write_json(run / "preprocessing.json", {**good, "version": 3})
    try:
        with pytest.raises(DataError, match="unsupported preprocessing version 3"):
            onnx_export.export(run)
    finally:
        write_json(run / "preprocessing.json", good)


def test_exported_models_are_reused_until_their_sources_change(edge_run, monkeypatch):
    run, report = edge_run
    calls = []
    monkeypatch.setattr(onnx_export, "export", lambda r, family: calls.append(r) or "re-exported")
    assert Artifacts("student", 8).qat in report["sources"]
    assert exported.ensure_exported(run) == read_json(run / "onnx" / "export.json")
    assert not calls
    stale = {**report, "sources": {**report["sources"], "qat.pt": "0" * 64}}
    write_json(run / "onnx" / "export.json", stale)
    try:
        assert exported.ensure_exported(run) == "re-exported"
    finally:
        write_json(run / "onnx" / "export.json", report)
