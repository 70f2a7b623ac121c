"""FLOPs per sample of a model's forward pass.

torch's FlopCounterMode counts matrix products and convolutions but not the fused recurrent kernels, so LSTM
layers are counted analytically through forward hooks: per time step, layer and direction, 4 gates x 2 x
(input x hidden + hidden x hidden) multiply-adds plus the gate nonlinearity arithmetic (~ 10 x hidden).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def lstm_flops(module: nn.LSTM, batch: int, steps: int) -> int:
    directions = 2 if module.bidirectional else 1
    total, width = 0, module.input_size
    for _ in range(module.num_layers):
        per_step = 2 * 4 * module.hidden_size * (width + module.hidden_size) + 10 * module.hidden_size
        total += per_step * steps * batch * directions
        width = module.hidden_size * directions
    return total


def forward_flops(model: nn.Module, inputs: dict[str, torch.Tensor], forward=None) -> int:
    """Total FLOPs of one forward over `inputs` (a batch); divide by the batch size for per-sample figures."""
    recurrent = []

    def hook(module, args, output):
        x = args[0]
        batch, steps = (x.shape[0], x.shape[1]) if module.batch_first else (x.shape[1], x.shape[0])
        recurrent.append(lstm_flops(module, batch, steps))

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.LSTM)]
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            (forward or (lambda m, b: m(**b)))(model, inputs)
    finally:
        for handle in handles:
            handle.remove()
    return int(counter.get_total_flops()) + sum(recurrent)
