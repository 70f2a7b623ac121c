"""Mixed precision and memory layout of training and evaluation: the `amp` and `channels_last` settings.

`amp` (auto | off | bf16 | fp16) picks the autocast dtype. `auto` is bf16 on a CUDA device that supports it
(Ampere and later: fp32's exponent range, so no loss scaling, and the LSTMs' and attention softmaxes' activations
cannot overflow), fp16 with a gradient scaler on older CUDA devices (bf16 is emulated there), and off on the CPU:
CPU autocast is slow without AVX512-BF16/AMX and would change the numbers of the byte-reproducible CPU runs. An
explicit bf16 or fp16 is honoured on either device (fp16 always with a GradScaler).

`channels_last` (auto | on | off): `auto` is on for CUDA (cuDNN's NHWC / NDHWC convolution kernels use the tensor
cores without a transpose per layer) and off on the CPU. It stores every 4-D parameter as torch.channels_last and
every 5-D one as torch.channels_last_3d, and the spec's image inputs (ModelSpec.image_inputs) likewise; a
convolution whose weight is channels-last runs channels-last whatever its input's layout, so inputs not declared
(Das et al.'s stacked part crops, 6-D) still take the fast path after one conversion.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

AmpSetting = Literal["auto", "off", "bf16", "fp16"]
LayoutSetting = Literal["auto", "on", "off"]
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_amp(setting: str, device: torch.device, bf16_supported: bool | None = None) -> torch.dtype | None:
    """The autocast dtype of `setting` on `device` (None: full fp32). bf16_supported: whether the CUDA device
    runs bf16 natively (None: ask torch)."""
    if setting == "off":
        return None
    if setting in DTYPES:
        return DTYPES[setting]
    if setting != "auto":
        raise ValueError(f"amp must be one of auto, off, bf16, fp16; got {setting!r}")
    if device.type != "cuda":
        return None
    if bf16_supported is None:
        bf16_supported = torch.cuda.is_bf16_supported(including_emulation=False)
    return torch.bfloat16 if bf16_supported else torch.float16


def resolve_channels_last(setting: str, device: torch.device) -> bool:
    """Whether `setting` (auto | on | off) stores convolutions channels-last on `device`."""
    if setting not in ("auto", "on", "off"):
        raise ValueError(f"channels_last must be one of auto, on, off; got {setting!r}")
    return setting == "on" or (setting == "auto" and device.type == "cuda")


def channels_last(tensor: torch.Tensor) -> torch.Tensor:
    """A 4-D tensor as torch.channels_last, a 5-D one as torch.channels_last_3d; any other rank unchanged."""
    if tensor.dim() == 4:
        return tensor.contiguous(memory_format=torch.channels_last)
    if tensor.dim() == 5:
        return tensor.contiguous(memory_format=torch.channels_last_3d)
    return tensor


@dataclass(frozen=True)
class Precision:
    """The resolved settings of one run on one device. dtype None = fp32; image_inputs: batch keys converted to
    channels-last with the model."""
    device_type: str = "cpu"
    dtype: torch.dtype | None = None
    channels_last: bool = False
    image_inputs: tuple[str, ...] = ()

    @classmethod
    def of(cls, config, device: torch.device, image_inputs: tuple[str, ...] = ()) -> Precision:
        """From a train section's `amp` and `channels_last` keys (a TrainBase)."""
        return cls(device.type, resolve_amp(config.amp, device), resolve_channels_last(config.channels_last, device),
                   tuple(image_inputs))

    @property
    def name(self) -> str:
        return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.dtype]

    def autocast(self):
        """Context of a forward pass (and its loss): autocast to `dtype`, or nothing at fp32."""
        if self.dtype is None:
            return nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def kernels(self):
        """Context of a whole pass (forward, backward and step). Low precision on the CPU turns oneDNN (mkldnn)
        off: its bf16 3-D convolution weight gradient was found non-deterministic and at times inf/nan here
        (torch 2.13, AMD EPYC with avx512_bf16: I3D's and ResNet3D's 3x3x3 convolutions, tests/train/
        test_precision.py), while ATen's own kernels give the same finite numbers on every run."""
        if self.dtype is None or self.device_type != "cpu":
            return nullcontext()
        return torch.backends.mkldnn.flags(enabled=False)

    def scaler(self) -> torch.amp.GradScaler | None:
        """A gradient scaler for fp16 (its small exponent range underflows small gradients); None otherwise."""
        return torch.amp.GradScaler(self.device_type) if self.dtype == torch.float16 else None

    def prepare_model(self, model: nn.Module) -> nn.Module:
        """The model with its 4-D / 5-D parameters and buffers channels-last when that is on (in place)."""
        if self.channels_last:
            for tensor in [*model.parameters(), *model.buffers()]:
                tensor.data = channels_last(tensor.data)
        return model

    def prepare_batch(self, batch: dict) -> dict:
        """The batch with its image inputs channels-last when that is on (other keys as they are)."""
        if not self.channels_last:
            return batch
        return {k: channels_last(v) if k in self.image_inputs else v for k, v in batch.items()}


@contextmanager
def inference(precision: Precision | None) -> Iterator[None]:
    """no_grad + the precision's autocast and kernels (None: fp32): the evaluation and prediction forward."""
    if precision is None:
        with torch.no_grad():
            yield
        return
    with torch.no_grad(), precision.kernels(), precision.autocast():
        yield


def optimizer_step(loss: torch.Tensor, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler | None,
                   parameters: list, grad_clip: float) -> None:
    """Backward, optional gradient-norm clipping and one optimizer step, through the fp16 scaler when there is one
    (gradients are unscaled before clipping; a step with inf/nan gradients is skipped and the scale lowered)."""
    optimizer.zero_grad(set_to_none=True)
    if scaler is None:
        loss.backward()
        if grad_clip > 0:
            nn.utils.clip_grad_norm_(parameters, grad_clip)
        optimizer.step()
        return
    scaler.scale(loss).backward()
    if grad_clip > 0:
        scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_(parameters, grad_clip)
    scaler.step(optimizer)
    scaler.update()
