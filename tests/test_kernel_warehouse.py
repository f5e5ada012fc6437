"""KernelWarehouse convolution and MKW-Net: static start, batched kernels, budgets, gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from faultedge.models.kernel_warehouse import KWConv2d, Warehouse, plan_stage
from faultedge.models.mkw import MKWNet, PlainCNN, plain_cnn_for_budget, temperature_at
from faultedge.models.summary import count_macs, count_params


def stage(ratio: float = 2.0):
    plan = plan_stage([(32, 16), (32, 32)], ratio)
    torch.manual_seed(0)
    return plan, Warehouse(plan), KWConv2d(16, 32, plan, 0), KWConv2d(32, 32, plan, 1)


def test_plan_partitions_kernels_into_cells_of_one_warehouse():
    plan = plan_stage([(32, 16), (32, 32)], cell_ratio=2.0)
    assert (plan.cell_out, plan.cell_in) == (16, 8)
    assert plan.mixtures == (4, 8) and plan.n_cells == 24
    cells = plan.static_cells[0] + plan.static_cells[1]
    assert len(set(cells)) == 12 and max(cells) < 24  # every mixture starts from its own cell
    shared = plan_stage([(32, 16), (32, 32)], cell_ratio=0.5)
    assert shared.n_cells == 6 and sorted(set(shared.static_cells[0] + shared.static_cells[1])) == list(range(6))


@pytest.mark.parametrize("layer", [0, 1])
def test_at_tau_one_the_layer_is_a_static_convolution(layer):
    plan, warehouse, *convs = stage()
    conv = convs[layer].eval()
    x = torch.randn(5, conv.in_channels, 12, 12)
    static = warehouse.cells[list(plan.static_cells[layer])]  # the assigned cell of each mixture
    one_hot = torch.eye(plan.n_cells)[list(plan.static_cells[layer])]
    kernel = conv.assemble(one_hot[None], warehouse.cells)[0]
    blocks_in = conv.in_channels // plan.cell_in
    assert torch.equal(kernel[: plan.cell_out, : plan.cell_in], static[0])
    assert torch.equal(kernel[: plan.cell_out, plan.cell_in : 2 * plan.cell_in], static[1])
    assert torch.equal(kernel[plan.cell_out :, : plan.cell_in], static[blocks_in])
    with torch.no_grad():
        torch.testing.assert_close(conv(x, warehouse.cells), F.conv2d(x, kernel, padding=1), rtol=1e-5, atol=1e-5)


def test_attention_is_linear_signed_and_per_sample_kernels_are_batched():
    plan, warehouse, conv, _ = stage()
    conv.eval()
    conv.attention.temperature.fill_(0.0)
    with torch.no_grad():
        conv.attention.fc2.weight.normal_(0, 1.0)
        x = torch.randn(4, 16, 10, 10)
        a = conv.attention(x)
    assert a.shape == (4, plan.mixtures[0], plan.n_cells)
    assert (a < 0).any() and (a.abs().sum(-1) < 1).all()  # z / (sum|z| + eps), zero cell dropped
    with torch.no_grad():
        batched = conv(x, warehouse.cells)
        kernels = conv.assemble(a, warehouse.cells)
        one_by_one = torch.cat([F.conv2d(x[i : i + 1], kernels[i], padding=1) for i in range(4)])
    torch.testing.assert_close(batched, one_by_one, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(kernels[0], kernels[1])  # dynamic: each sample its own kernel


def test_gradients_reach_the_warehouse_and_the_attention():
    torch.manual_seed(0)
    model = MKWNet(6, 7)
    model.set_temperature(0.5)
    F.cross_entropy(model(torch.randn(8, 6, 32, 32)), torch.arange(8) % 7).backward()
    for w in model.warehouses:
        assert w.cells.grad is not None and w.cells.grad.abs().sum() > 0
    for conv in model.convs:
        assert conv.attention.fc2.weight.grad.abs().sum() > 0


def test_mkw_net_budget_shapes_and_macs():
    robot, cwru = MKWNet(6, 7), MKWNet(1, 10)
    assert robot(torch.randn(3, 6, 32, 32)).shape == (3, 7) and cwru(torch.randn(2, 1, 32, 32)).shape == (2, 10)
    assert count_params(robot) == 39_799 and count_params(cwru) == 39_376  # <= 0.05 M
    assert [tuple(w.cells.shape) for w in robot.warehouses] == [(8, 8, 3, 3, 3), (24, 16, 8, 3, 3)]
    conv_macs = 32 * 32 * 16 * 6 * 9 + 16 * 16 * 32 * 16 * 9 + 8 * 8 * 32 * 32 * 9
    assembly = 4 * 8 * 8 * 3 * 9 + (4 + 8) * 24 * 16 * 8 * 9
    attention = (6 * 16 + 16 * 4 * 9) + (16 * 16 + 16 * 4 * 25) + (32 * 16 + 16 * 8 * 25)
    assert count_macs(robot, torch.zeros(1, 6, 32, 32)) == conv_macs + assembly + attention + 512 * 7
    cnn = plain_cnn_for_budget(6, 7, count_params(robot))
    assert abs(count_params(cnn) - count_params(robot)) / count_params(robot) < 0.1 and isinstance(cnn, PlainCNN)


def test_temperature_schedule_starts_static_and_ends_dynamic():
    assert temperature_at(0, 20) == 1.0 and temperature_at(10, 20) == 0.5 and temperature_at(25, 20) == 0.0
    model = MKWNet(1, 10)
    model.set_temperature(0.25)
    state = model.state_dict()
    assert all(float(v) == 0.25 for k, v in state.items() if k.endswith("temperature"))  # saved with the weights
