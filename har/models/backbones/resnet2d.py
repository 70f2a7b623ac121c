"""2D ResNet with basic blocks: He, Zhang, Ren & Sun, "Deep Residual Learning for Image Recognition", CVPR 2016.

ResNet-18 = 7×7/2 stem + 3×3/2 max-pool, four stages of two BasicBlocks with 64·(1, 2, 4, 8) channels (stride 2
at the first block of stages 2–4, projection shortcut where the shape changes), global average pool, linear head.
`width` scales every stage (64 = the published network, 11.69M parameters with 1000 classes); `depths` sets the
blocks per stage. Plain torch, written from the paper's description.
"""
from __future__ import annotations

import torch
from torch import nn

from har.models.backbones.pretrained import Head, KeyMap, PretrainedError, conv_bn, load_file
from har.models.layers import init_conv_weights


class BasicBlock(nn.Module):
    """3×3 conv (stride s) → BN → ReLU → 3×3 conv → BN, plus shortcut, then ReLU.

    (N, C_in, H, W) → (N, C_out, ceil(H / s), ceil(W / s)).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        if stride == 1 and in_channels == out_channels:
            self.shortcut = nn.Identity()
        else:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                                          nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + self.shortcut(x))


class ResNet2d(nn.Module):
    """(B, C, H, W) images → logits (B, num_classes); `features` gives the pooled (B, 8·width) vector."""

    def __init__(self, num_classes: int, in_channels: int = 3, width: int = 64,
                 depths: tuple[int, ...] = (2, 2, 2, 2), dropout: float = 0.0):
        super().__init__()
        if width < 1 or not depths or min(depths) < 1:
            raise ValueError(f"ResNet2d needs width >= 1 and at least one block per stage, got {width}, {depths}")
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, 7, 2, 3, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, 1),
        )
        stages, channels = [], width
        for index, depth in enumerate(depths):
            out_channels = width * 2 ** index
            blocks = [BasicBlock(channels, out_channels, 1 if index == 0 else 2)]
            blocks += [BasicBlock(out_channels, out_channels, 1) for _ in range(depth - 1)]
            stages.append(nn.Sequential(*blocks))
            channels = out_channels
        self.stages = nn.Sequential(*stages)
        self.out_channels = channels
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(channels, num_classes)
        init_conv_weights(self, mode="fan_out")  # He initialisation (He et al. 2015/2016); BN starts as identity

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem(images)).mean(dim=(2, 3))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.features(images)))


def torchvision_resnet18_key_map(net: ResNet2d) -> KeyMap:
    """torchvision `resnet18` keys -> keys of our ResNet2d (stage s, block b = torchvision's layer{s+1}.{b})."""
    key_map = KeyMap({}, {}, Head("fc.weight", "fc.bias", net.fc))
    conv_bn("conv1", "bn1", "stem.0", "stem.1", key_map)
    for s, stage in enumerate(net.stages):
        for b, block in enumerate(stage):
            public, ours = f"layer{s + 1}.{b}", f"stages.{s}.{b}"
            for k in (1, 2):
                conv_bn(f"{public}.conv{k}", f"{public}.bn{k}", f"{ours}.conv{k}", f"{ours}.bn{k}", key_map)
            if not isinstance(block.shortcut, nn.Identity):
                conv_bn(f"{public}.downsample.0", f"{public}.downsample.1", f"{ours}.shortcut.0",
                        f"{ours}.shortcut.1", key_map)
    return key_map


def load_torchvision_resnet18(net: ResNet2d, path, key: str) -> dict:
    """Load a torchvision resnet18 state dict file (ImageNet, e.g. resnet18-f37072fd.pth) into `net`, its fc only
    at the same class count. `key` names the parameter that gave the path, for errors. Raises PretrainedError
    unless `net` is a ResNet-18 (64 wide, two blocks per stage, RGB input)."""
    depths = tuple(len(stage) for stage in net.stages)
    conv = net.stem[0]
    if depths != (2, 2, 2, 2) or conv.out_channels != 64 or conv.in_channels != 3:
        raise PretrainedError(f"{key}={str(path)!r} holds a ResNet-18 (width 64, depths [2, 2, 2, 2], RGB input), "
                              f"but the model has width {conv.out_channels}, depths {list(depths)}, "
                              f"{conv.in_channels} input channels: set the model to the published size")
    return load_file(net, path, torchvision_resnet18_key_map(net), key)
