"""Mixed precision and memory layout (har.train.precision): the settings' resolution, and bf16 autocast training
every model on the CPU (each on tiny random inputs of its own input shapes, overfitting one fixed batch)."""
from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from har.models import amfi_net, das_attention, epam_net, glimpse, stroi_net
from har.train import loop
from har.train.loop import OptimConfig, Phase, PhaseConfig, TrainContext, cross_entropy_on, fit
from har.train.precision import (
    Precision,
    channels_last,
    inference,
    optimizer_step,
    resolve_amp,
    resolve_channels_last,
)
from har.train.registry import model_spec

CPU, CUDA = torch.device("cpu"), torch.device("cuda")
CLASSES = 4


pytestmark = pytest.mark.usefixtures("single_thread")  # tests/conftest.py


def test_auto_is_bf16_on_cuda_fp16_on_older_gpus_and_off_on_cpu():
    assert resolve_amp("auto", CPU) is None
    assert resolve_amp("auto", CUDA, bf16_supported=True) == torch.bfloat16
    assert resolve_amp("auto", CUDA, bf16_supported=False) == torch.float16
    assert resolve_amp("off", CUDA, bf16_supported=True) is None
    assert resolve_amp("bf16", CPU) == torch.bfloat16 and resolve_amp("fp16", CPU) == torch.float16
    with pytest.raises(ValueError, match="amp must be one of auto, off, bf16, fp16; got 'fp8'"):
        resolve_amp("fp8", CPU)
    assert resolve_channels_last("auto", CUDA) and not resolve_channels_last("auto", CPU)
    assert resolve_channels_last("on", CPU) and not resolve_channels_last("off", CUDA)
    with pytest.raises(ValueError, match="channels_last must be one of auto, on, off; got 'yes'"):
        resolve_channels_last("yes", CPU)


def test_precision_of_a_train_section_and_its_scaler():
    config = model_spec("glimpse").config_type()
    assert (config.amp, config.channels_last) == ("auto", "auto")  # the defaults params.yaml writes out
    plain = Precision.of(config, CPU)
    assert plain == Precision() and plain.name == "fp32" and plain.scaler() is None
    half = Precision.of(dataclasses.replace(config, amp="fp16", channels_last="on"), CPU, ("rgb",))
    assert half.name == "fp16" and half.scaler() is not None and half.channels_last
    assert Precision.of(dataclasses.replace(config, amp="bf16"), CPU).scaler() is None  # bf16 needs no scaling
    with Precision("cpu", torch.bfloat16).kernels():  # oneDNN's bf16 conv3d weight gradient: see kernels()
        assert not torch.backends.mkldnn.enabled
    with Precision().kernels(), Precision("cuda", torch.bfloat16).kernels():
        assert torch.backends.mkldnn.enabled


def test_channels_last_converts_convolutions_and_image_inputs_only():
    precision = Precision(channels_last=True, image_inputs=("rgb", "stroi"))
    model = torch.nn.Sequential(torch.nn.Conv3d(3, 4, 3), torch.nn.BatchNorm3d(4), torch.nn.Conv2d(4, 4, 1),
                                torch.nn.Linear(4, 2))
    precision.prepare_model(model)
    assert model[0].weight.is_contiguous(memory_format=torch.channels_last_3d)
    assert not model[0].weight.is_contiguous()
    assert model[2].weight.is_contiguous(memory_format=torch.channels_last)
    assert model[3].weight.is_contiguous() and model[1].running_mean.is_contiguous()
    batch = {"rgb": torch.rand(2, 3, 4, 8, 8), "stroi": torch.rand(2, 3, 8, 8), "skeleton": torch.rand(2, 2, 4, 25, 3),
             "target": torch.tensor([0, 1])}
    out = precision.prepare_batch(batch)
    assert out["rgb"].is_contiguous(memory_format=torch.channels_last_3d) and not out["rgb"].is_contiguous()
    assert out["stroi"].is_contiguous(memory_format=torch.channels_last) and not out["stroi"].is_contiguous()
    assert out["skeleton"] is batch["skeleton"] and out["target"] is batch["target"]
    for key in batch:
        torch.testing.assert_close(out[key], batch[key], rtol=0, atol=0)  # values unchanged, layout only
    assert Precision().prepare_batch(batch) is batch
    assert channels_last(torch.rand(2, 3)).is_contiguous()


def _tiny_cases():
    """name -> (model config, inputs(batch, generator), loss(outputs, target, model, config))."""
    def randn(*shape, generator):
        return torch.randn(*shape, generator=generator)

    glimpse_config = glimpse.GlimpseConfig(hidden=8, layers=1, joint_attention_hidden=8, dropout=0.0)
    epam_config = dataclasses.replace(epam_net.EpamNetConfig(), rgb_frames=4, rgb_size=32, pose_frames=12,
                                      pose_size=16, temporal_reduction=2, dropout=0.0)
    amfi_config = amfi_net.AmfiNetConfig(rgb_size=16)
    das_config = das_attention.DasAttentionConfig(clip_frames=8, pose_steps=4, lstm_hidden=16,
                                                  attention_hidden=8, lstm_dropout=0.0, head_dropout=0.0)
    stroi_config = stroi_net.STROINetConfig(gcn_widths=(8, 16, 16), gcn_depths=(1, 1, 1), resnet_width=8,
                                            resnet_depths=(1, 1, 1, 1), input_size=32)

    def ce(outputs, target, model, config):
        return torch.nn.functional.cross_entropy(outputs["logits"], target)

    return {
        "glimpse": (glimpse_config, lambda b, g: {"x": randn(b, 2, 8, 25, 3, generator=g),
                                                  "length": torch.full((b,), 8)}, ce),
        "epam": (epam_config, lambda b, g: {"rgb": randn(b, 3, 4, 32, 32, generator=g),
                                            "heatmaps": torch.rand(b, 25, 12, 16, 16, generator=g)},
                 lambda out, t, m, c: epam_net.loss(out, t)[0]),
        "amfi": (amfi_config, lambda b, g: {"rgb": torch.rand(b, 3, 4, 16, 16, generator=g),
                                            "skeleton": randn(b, 2, 8, 25, 3, generator=g)},
                 lambda out, t, m, c: amfi_net.loss(out, t, c)[0]),
        "das": (das_config, lambda b, g: {"crops": randn(b, 3, 3, 8, 16, 16, generator=g),
                                          "skeleton": randn(b, 2, 12, 25, 3, generator=g)},
                lambda out, t, m, c: das_attention.loss(out, t, c, m)[0]),
        "stroi": (stroi_config, lambda b, g: {"skeleton": randn(b, 2, 16, 25, 3, generator=g),
                                              "stroi": torch.rand(b, 3, 40, 40, generator=g)},
                  lambda out, t, m, c: stroi_net.loss(out, t, c)[0]),
    }


TINY = _tiny_cases()


class FixedBatch(Dataset):
    """The same few samples every epoch: training on it must overfit."""

    def __init__(self, inputs: dict, target: torch.Tensor):
        self.inputs, self.target = inputs, target

    def __len__(self):
        return len(self.target)

    def __getitem__(self, i):
        return {**{k: v[i] for k, v in self.inputs.items()}, "target": self.target[i], "index": torch.tensor(i)}


@pytest.mark.parametrize("name", sorted(TINY))
def test_bf16_autocast_trains_every_model_on_cpu(name, tmp_path):
    """The real run_epoch under bf16 autocast (and channels-last on the spec's image inputs), one batch of 4 a
    step, the model's own loss: every loss finite, the forward really in bf16, the loss falling."""
    spec = model_spec(name)
    config, make_inputs, objective = TINY[name]
    torch.manual_seed(0)
    model = spec.build(config, CLASSES)
    precision = Precision("cpu", torch.bfloat16, channels_last=True, image_inputs=spec.image_inputs)
    precision.prepare_model(model)
    generator = torch.Generator().manual_seed(1)
    data = FixedBatch(make_inputs(4, generator), torch.arange(4) % CLASSES)
    loader = DataLoader(data, batch_size=4)
    ctx = TrainContext(model=model, train_loader=loader, val_loader=loader, device=CPU, checkpoint_dir=tmp_path,
                       fingerprint="x", seed=0, progress=False, precision=precision)
    dtypes = []

    def forward(net, batch):
        outputs = loop.default_forward(net, batch)
        dtypes.append(outputs["logits"].dtype)
        return outputs

    parameters = [p for p in model.parameters() if p.requires_grad]
    phase = Phase("all", PhaseConfig(epochs=1, batch_size=4), parameters,
                  lambda out, target: (objective(out, target, model, config), {}), forward=forward)
    optimizer = torch.optim.Adam(parameters, lr=3e-3)
    losses = [loop.run_epoch(ctx, phase, optimizer)["loss"] for _ in range(6)]
    assert all(math.isfinite(v) for v in losses), losses
    assert set(dtypes) == {torch.bfloat16}  # the fused head ran under autocast (a softmax fusion stays bf16 too)
    assert min(losses[-2:]) < 0.9 * losses[0], losses


class Interrupted(Exception):
    pass


def test_fp16_scaler_state_is_checkpointed_and_resumed(tmp_path, monkeypatch):
    """fp16 (GradScaler) through fit: the phase's last checkpoint holds the scaler's state, and a run interrupted
    after its first epoch resumes with that scale (a fresh scaler would start at 2**16)."""
    generator = torch.Generator().manual_seed(2)
    x = torch.randn(16, 4, generator=generator)
    target = (x[:, 0] > 0).long()

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))

        def forward(self, x):
            return {"logits": self.net(x)}

    precision = Precision("cpu", torch.float16)

    def context():
        torch.manual_seed(0)
        net = Net()
        loader = DataLoader(FixedBatch({"x": x}, target), batch_size=8)
        ctx = TrainContext(model=net, train_loader=loader, val_loader=loader, device=CPU, checkpoint_dir=tmp_path,
                           fingerprint="fp16", seed=0, progress=False, precision=precision)
        phase = Phase("main", PhaseConfig(epochs=3, batch_size=8, optim=OptimConfig("adam", lr=0.05)),
                      list(net.parameters()), cross_entropy_on())
        return ctx, phase

    real_run_epoch, scales = loop.run_epoch, []

    def interrupting(ctx, phase, optimizer=None):
        if optimizer is None:
            return real_run_epoch(ctx, phase)
        scales.append(ctx.scaler.get_scale())
        if len(scales) > 1:
            raise Interrupted
        result = real_run_epoch(ctx, phase, optimizer)
        ctx.scaler.update(new_scale=1024.0)  # a scale only the checkpoint can carry over
        return result

    def recording(ctx, phase, optimizer=None):
        if optimizer is not None:
            resumed.append(ctx.scaler.get_scale())
        return real_run_epoch(ctx, phase, optimizer)

    monkeypatch.setattr(loop, "run_epoch", interrupting)
    with pytest.raises(Interrupted):
        fit(*context())
    saved = loop.checkpoint.load(tmp_path / "main.last.pt", CPU)
    assert saved["epoch"] == 0 and saved["scaler"]["scale"] == 1024.0
    ctx, phase = context()
    resumed = []
    monkeypatch.setattr(loop, "run_epoch", recording)
    summary = fit(ctx, phase)
    assert scales == [2.0**16, 1024.0] and resumed[0] == 1024.0
    assert len(summary["history"]) == 3 and all(math.isfinite(r["train_loss"]) for r in summary["history"])


def test_fp16_step_clips_after_unscaling_and_inference_autocasts():
    torch.manual_seed(0)
    net = torch.nn.Linear(4, 2)
    x, target = torch.randn(8, 4), torch.arange(8) % 2
    precision = Precision("cpu", torch.float16)
    scaler = precision.scaler()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    before = net.weight.detach().clone()
    with precision.autocast():
        loss = torch.nn.functional.cross_entropy(net(x), target)
    optimizer_step(loss, optimizer, scaler, list(net.parameters()), grad_clip=1e-3)
    assert 0 < float((net.weight.detach() - before).norm()) <= 0.1 * 1e-3 * 1.01  # lr x the clipped norm
    with inference(precision):
        assert net(x).dtype == torch.float16 and not torch.is_grad_enabled()
    with inference(None):
        assert net(x).dtype == torch.float32
