"""The wavelet-image classifiers by name: what the MKW-Net family, `faultedge train-mkw --model` and
dataset distillation build. Every network has widths (w, 2w, 2w) over three blocks, as MKW-Net."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:  # torch is imported by the builders, so the names can be read without it (CLI choices)
    from torch import nn

    from faultedge.models.mkw import MKWNet, PlainCNN

MKW, CONVNET, BUDGET_CNN = "mkw", "convnet", "cnn"


def mkw_net(in_channels: int, n_classes: int, image_size: int, width: int = 16, norm: str = "batch") -> "MKWNet":
    """MKW-Net (seed 000); `norm` does not apply (its BatchNorms are part of the model)."""
    from faultedge.models.mkw import MKWNet

    return MKWNet(in_channels, n_classes, (width, 2 * width, 2 * width), image_size=image_size)


def convnet(in_channels: int, n_classes: int, image_size: int, width: int = 16, norm: str = "batch") -> "PlainCNN":
    """3 x [conv3x3, norm, ReLU, avgpool2]: norm "batch" is MKW-Net's static (tau = 1) form, "instance" the MTT reference's ConvNet."""
    from faultedge.models.mkw import PlainCNN

    return PlainCNN(in_channels, n_classes, (width, 2 * width, 2 * width), norm=norm, image_size=image_size)


def budget_cnn(in_channels: int, n_classes: int, image_size: int, width: int = 16, norm: str = "batch") -> "PlainCNN":
    """The plain CNN (batch norm) whose parameter count is closest to MKW-Net's at `width`: the equal-budget baseline."""
    from faultedge.models.mkw import plain_cnn_for_budget
    from faultedge.models.summary import count_params

    return plain_cnn_for_budget(in_channels, n_classes, count_params(mkw_net(in_channels, n_classes, image_size, width)), image_size)


IMAGE_NETS: dict[str, Callable[..., "nn.Module"]] = {MKW: mkw_net, CONVNET: convnet, BUDGET_CNN: budget_cnn}


def build_image_net(kind: str, image_shape: tuple[int, int, int], n_classes: int, width: int = 16, norm: str = "batch") -> "nn.Module":
    """The network `kind` for C x S x S images."""
    if kind not in IMAGE_NETS:
        raise ValueError(f"unknown image network {kind!r}; choose from {', '.join(IMAGE_NETS)}")
    c, size, _ = image_shape
    return IMAGE_NETS[kind](c, n_classes, size, width, norm)
