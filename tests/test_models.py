"""Architectures match the papers' tables; LoRA adapts and merges exactly."""

from __future__ import annotations

import torch

from faultedge.models.student import Student
from faultedge.models.teacher import Teacher
from faultedge.models.lora import LoRALayer, add_lora, merge_lora
from faultedge.models.summary import count_macs, count_params


def test_parameter_counts_match_seed_001():
    assert count_params(Teacher()) == 69_626
    assert count_params(Student()) == 2_830


def test_shapes_and_macs():
    x = torch.randn(3, 1024)
    assert Teacher()(x).shape == (3, 10) and Student()(x).shape == (3, 10)
    # conv: 4 filters x 128 positions x 64 taps; fc: 256 x 10
    assert count_macs(Student(), torch.zeros(1, 1024)) == 4 * 128 * 64 + 256 * 10


def test_lora_counts_match_table_3_and_freeze_the_base():
    model = add_lora(Student(), rank=12)
    assert count_params(model) == 6_838  # Table 3: conv LoRA 816 + fc LoRA 3,192 + base 2,830
    assert count_params(model, trainable_only=True) == 816 + 3_192
    assert isinstance(model.conv, LoRALayer) and model.conv.lora_A.shape == (12, 64) and model.fc.lora_A.shape == (12, 256)
    assert not any(p.requires_grad for p in model.conv.base.parameters())


def test_lora_starts_as_the_student():
    torch.manual_seed(0)
    student = Student().eval()
    x = torch.randn(8, 1024)
    assert torch.equal(add_lora(student).eval()(x), student(x))


def test_merge_equals_lora_model_on_real_inputs(real_features):
    _, features, _ = real_features
    torch.manual_seed(1)
    model = add_lora(Student(), rank=12)
    with torch.no_grad():
        for layer in (model.conv, model.fc):
            layer.lora_B.normal_(0, 0.05)  # a fine-tuned, non-zero update
    merged = merge_lora(model.eval())
    assert type(merged) is Student and count_params(merged) == 2_830
    x = torch.from_numpy(features)
    with torch.no_grad():
        diff = (merged(x) - model(x)).abs().max().item()
        moved = (merged(x) - merge_lora(add_lora(Student()))(x)).abs().max().item()
    assert diff <= 1e-5
    assert moved > 1e-2  # the update really is in the merged weights
