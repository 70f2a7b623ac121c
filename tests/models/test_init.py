import math

import pytest
import torch
from torch import nn

from har.models.layers import init_conv_weights


@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
def test_init_conv_weights_is_he_normal_for_every_convolution(mode):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv3d(16, 64, (3, 5, 5), bias=False), nn.BatchNorm3d(64),
                          nn.Conv2d(32, 48, 3), nn.Conv1d(8, 96, 7), nn.Linear(10, 10))
    linear = model[4].weight.detach().clone()
    init_conv_weights(model, mode=mode)
    for conv in (model[0], model[2], model[3]):
        kernel = math.prod(conv.kernel_size)
        fan = conv.in_channels * kernel if mode == "fan_in" else conv.out_channels * kernel
        weight = conv.weight.detach()
        assert abs(weight.mean().item()) < 0.05 * math.sqrt(2 / fan)
        assert weight.std().item() == pytest.approx(math.sqrt(2 / fan), rel=0.03)
    assert torch.equal(model[4].weight, linear)  # other layers keep their defaults
    assert torch.equal(model[1].weight, torch.ones(64)) and torch.equal(model[1].bias, torch.zeros(64))
