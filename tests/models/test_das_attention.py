"""Tests for the Das et al. (WACV 2019) pose-attention model and its I3D backbone."""
from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from torch.nn import functional as F

from har.models.backbones.i3d import InceptionI3d, SameMaxPool3d
from har.models.das_attention import (
    PART_NAMES,
    DasAttentionConfig,
    attention_penalty,
    build_das_attention,
    clip_window_starts,
    configure_stage,
    loss,
    pose_sequence,
    predict_test_views,
    random_pose_offsets,
    segment_frame_indices,
    skeleton_lengths,
)
from har.models.layers import restore_frozen_eval

# Tiny variant so every test runs in about a second on 2 cores; the architecture is the default one.
TINY = DasAttentionConfig(clip_frames=8, pose_steps=4, lstm_hidden=16, attention_hidden=8)
CROP = 16  # crop side: the store's, the model reads any size
CLASSES = 4


def make_batch(seed: int, batch: int = 4, frames: int = 12) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Crops (B, 3, 3, 8, 16, 16) where only the full body tells the class, skeleton (B, 2, frames, 25, 3)."""
    generator = torch.Generator().manual_seed(seed)
    target = torch.arange(batch) % CLASSES
    crops = torch.randn(batch, 3, 3, TINY.clip_frames, CROP, CROP, generator=generator)
    crops[:, PART_NAMES.index("full_body")] += (target.float() - 1.5)[:, None, None, None, None] * 1.5
    skeleton = torch.randn(batch, 2, frames, 25, 3, generator=generator)
    return crops, skeleton, target


def tiny_model(seed: int = 0, **overrides) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_das_attention(dataclasses.replace(TINY, **overrides), CLASSES)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors through ~170 convolutions are per-op overhead: a second OpenMP thread only adds barrier
    waits (measured 25 s → 150 s for this file on a loaded 2-core machine). Restored afterwards."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def descend(params: list[torch.Tensor], objective: torch.Tensor, lr: float, sign: bool = False) -> None:
    """One gradient step; sign=True is Adam's bias-corrected first step. (torch.optim's first use imports
    torch._dynamo, seconds of start-up this file does not need.)"""
    grads = torch.autograd.grad(objective, params)
    with torch.no_grad():
        for param, grad in zip(params, grads):
            param -= lr * (grad.sign() if sign else grad)


def test_outputs_have_every_stream_and_equal_attention_at_start():
    model = tiny_model()
    crops, skeleton, _ = make_batch(0)
    outputs = model(crops, skeleton)
    assert set(outputs) == {"logits", "left_hand", "right_hand", "full_body", "pose", "attention"}
    for key in ("logits", *PART_NAMES, "pose"):
        assert outputs[key].shape == (4, CLASSES)
    assert outputs["attention"].shape == (4, 3)
    # Zero-initialised W_s and b_us: alpha = 1/3 for every input, yet the layer is trainable (not frozen).
    assert torch.allclose(outputs["attention"], torch.full((4, 3), 1 / 3))
    assert all(p.requires_grad for p in model.attention.parameters())


def test_backward_reaches_every_parameter():
    model = tiny_model()
    with torch.no_grad():  # W_s = 0 blocks W_h's gradient on the first step only (by design); move off it
        model.attention.score.weight.normal_(0.0, 0.1)
    crops, skeleton, target = make_batch(1)
    outputs = model(crops, skeleton)
    total = sum(F.cross_entropy(outputs[key], target) for key in ("logits", *PART_NAMES, "pose"))
    total.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


def test_attention_regulariser_gradient_reaches_the_attention_layer():
    model = tiny_model()
    model.eval()
    crops, skeleton, target = make_batch(2)

    def regulariser() -> torch.Tensor:  # the attention path only: pose LSTM → W_h → W_s → softmax
        hidden, _ = model.pose(pose_sequence(skeleton, model.config.pose_steps))
        return attention_penalty(model.attention(hidden)[1])

    # At alpha = 1/3 the regulariser is at its minimum, so its gradient is exactly zero there.
    regulariser().backward()
    assert model.attention.score.weight.grad.abs().max() == 0
    with torch.no_grad():
        model.attention.score.weight.normal_(0.0, 1.0)
        model.attention.score.bias.copy_(torch.tensor([1.0, 0.0, -1.0]))
    model.zero_grad()
    before = regulariser()
    before.backward()
    assert model.attention.score.weight.grad.abs().sum() > 0  # W_s
    assert model.attention.hidden.weight.grad.abs().sum() > 0  # W_h
    for _ in range(5):
        descend(list(model.attention.parameters()), regulariser(), lr=0.5)
    assert regulariser() < before.detach() - 0.01  # pulled towards alpha = 1/3
    # And `loss` applies it: lambda_1 changes W_s's gradient.
    outputs, grads = model(crops, skeleton), []
    for lam in (0.0, 1.0):
        config = dataclasses.replace(TINY, lambda_attention=lam)
        total = loss(outputs, target, config, model)[0]
        grads.append(torch.autograd.grad(total, model.attention.score.weight, retain_graph=True)[0])
    assert not torch.allclose(grads[0], grads[1])


def test_attention_moves_to_the_informative_part_and_loss_decreases():
    model = tiny_model(head_dropout=0.0, lstm_dropout=0.0)
    configure_stage(model, "attention")  # Algorithm 1 step 5: pose LSTM and part networks frozen
    crops, skeleton, target = make_batch(0, batch=8)
    losses = []
    for _ in range(8):
        total, terms = loss(model(crops, skeleton), target, model.config, model)
        losses.append(terms["cross_entropy"].item())
        descend([p for p in model.parameters() if p.requires_grad], total, lr=0.01, sign=True)
    model.eval()
    alpha = model(crops, skeleton)["attention"].mean(dim=0)
    assert losses[-1] < losses[0]
    assert (alpha - 1 / 3).abs().max() > 0.02
    full_body = PART_NAMES.index("full_body")
    assert alpha[full_body] == alpha.max() and alpha[full_body] > 0.36


def test_stages_freeze_the_right_sub_networks():
    model = tiny_model()
    configure_stage(model, "finetune")
    model.train()
    restore_frozen_eval(model)
    assert not model.pose.training and not any(p.requires_grad for p in model.pose.parameters())
    assert model.parts.training and model.attention.training
    crops, skeleton, target = make_batch(3)
    loss(model(crops, skeleton), target, model.config, model)[0].backward()
    assert all(p.grad is None for p in model.pose.parameters())
    for part in model.parts.values():
        assert all(p.grad is not None for p in part.backbone.parameters())
        assert not part.head.training and not any(p.requires_grad for p in part.head.parameters())
    configure_stage(model, "pose")
    assert not model.parts.training and model.pose.training
    assert [n for n, p in model.named_parameters() if p.requires_grad] == \
        [n for n, _ in model.named_parameters() if n.startswith("pose.")]
    with pytest.raises(ValueError, match="unknown stage"):
        configure_stage(model, "joint")


def test_forward_stream_matches_the_full_forward():
    model = tiny_model().eval()
    crops, skeleton, _ = make_batch(4)
    outputs = model(crops, skeleton)
    for name in PART_NAMES:
        assert torch.allclose(model.forward_stream(name, crops=crops), outputs[name], atol=1e-6)
    assert torch.allclose(model.forward_stream("pose", skeleton=skeleton), outputs["pose"], atol=1e-6)
    with pytest.raises(ValueError, match="needs the skeleton"):
        model.forward_stream("pose", crops=crops)


def test_segment_sampling_follows_the_valid_frames():
    lengths = torch.tensor([20, 40, 3])
    assert segment_frame_indices(lengths, 4, 0.5).tolist() == [[2, 7, 12, 17], [5, 15, 25, 35], [0, 1, 1, 2]]
    offsets = random_pose_offsets(3, 4, torch.Generator().manual_seed(0))
    index = segment_frame_indices(lengths, 4, offsets)
    low = torch.floor(torch.arange(4)[None] * lengths[:, None] / 4)
    assert (index >= low).all() and (index < lengths[:, None]).all()
    skeleton = torch.zeros(2, 2, 10, 25, 3)
    skeleton[0, 0, :7] = 1.0   # 7 frames, second body absent
    skeleton[1, 1, :10] = 2.0  # 10 frames, only the second body slot filled
    assert skeleton_lengths(skeleton).tolist() == [7, 10]
    steps = pose_sequence(skeleton, 4)
    assert steps.shape == (2, 4, 2 * 25 * 3) and (steps[0, :, :75] == 1).all() and (steps[0, :, 75:] == 0).all()
    with pytest.raises(ValueError, match="all zeros"):
        skeleton_lengths(torch.zeros(1, 2, 5, 25, 3))


def test_test_views_average_five_sub_sequences():
    model = tiny_model().eval()
    crops, skeleton, _ = make_batch(5, batch=2)
    long_crops = torch.cat([crops, crops[:, :, :, :4]], dim=3)  # 12 crop frames → 5 windows of 8
    assert clip_window_starts(12, 8, 5) == [0, 1, 2, 3, 4]
    averaged = predict_test_views(model, long_crops, skeleton)
    expected = sum(model(long_crops[:, :, :, s:s + 8], skeleton, pose_offsets=(j + 0.5) / 5)["logits"]
                   for j, s in enumerate([0, 1, 2, 3, 4])) / 5
    assert torch.allclose(averaged["logits"], expected, atol=1e-6)
    assert torch.allclose(averaged["attention"].sum(dim=1), torch.ones(2))
    with pytest.raises(ValueError, match="fewer than the clip length"):
        predict_test_views(model, crops[:, :, :, :6], skeleton)
    with pytest.raises(ValueError, match="eval"):
        predict_test_views(model.train(), crops, skeleton)


def test_loss_terms_and_input_checks():
    model = tiny_model(lambda_weights_scope="all")
    crops, skeleton, target = make_batch(6)
    outputs = model(crops, skeleton)
    total, terms = loss(outputs, target, model.config, model)
    assert math.isclose(terms["attention_penalty"].item(), 3 * (2 / 3) ** 2, rel_tol=1e-6)
    weights = sum(p.pow(2).sum() for n, p in model.named_parameters() if p.dim() >= 2)
    assert torch.isclose(terms["weight_penalty"], weights)
    expected = terms["cross_entropy"] + 1e-5 * terms["attention_penalty"] + 1e-3 * terms["weight_penalty"]
    assert torch.isclose(total.detach(), expected)
    # the weighted terms are logged too, and add up to the loss
    assert torch.isclose(terms["cross_entropy"] + terms["attention_term"] + terms["weight_term"], total.detach())
    with pytest.raises(ValueError, match="crops must be"):
        model(crops[:, :2], skeleton)
    with pytest.raises(ValueError, match="skeleton must be"):
        model(crops, skeleton[:, :, :, :17])


def test_same_max_pool_matches_tensorflow_same_padding():
    x = torch.randn(2, 3, 7, 16, 9)
    cases = [((3, 3, 3), (1, 1, 1)), ((1, 3, 3), (1, 2, 2)), ((3, 3, 3), (2, 2, 2)), ((2, 2, 2), (2, 2, 2))]
    for kernel, stride in cases:
        pads = []
        for size, k, s in reversed(list(zip(x.shape[2:], kernel, stride))):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        expected = F.max_pool3d(F.pad(x, pads, value=float("-inf")), kernel, stride)
        assert torch.equal(SameMaxPool3d(kernel, stride)(x), expected)


def test_i3d_feature_map_sizes_and_paper_parameter_count():
    trunk = InceptionI3d(width=0.125, stem_kernel=(3, 3, 3))
    assert trunk(torch.randn(1, 3, 16, 32, 32)).shape == (1, 128, 2, 1, 1)
    # Carreira & Zisserman 2017, Table 1: one I3D stream has 12M parameters (two-stream I3D: 25M).
    paper = InceptionI3d(width=1.0)
    assert paper.out_channels == 1024
    assert abs(sum(p.numel() for p in paper.parameters()) - 12.0e6) / 12.0e6 < 0.05
    config = DasAttentionConfig.paper()
    assert (config.clip_frames, config.lstm_hidden, config.pose_steps) == (64, 512, 20)


def test_weight_term_scope_is_a_parameter():
    """Eq. 5's lambda_2 ||W_uv||^2: "all" trainable matrices (the I3D trunks too, in fine-tuning), "fusion"
    (attention network + fused classifier, the default) or "attention" (W_h, W_s)."""
    assert DasAttentionConfig().lambda_weights_scope == "fusion"
    model = tiny_model()
    configure_stage(model, "finetune")
    named = {id(p): n for n, p in model.named_parameters()}
    chosen = {scope: sorted(named[id(p)] for p in model.regularized_weights(scope))
              for scope in ("all", "fusion", "attention")}
    assert chosen["attention"] == ["attention.hidden.weight", "attention.score.weight"]
    assert chosen["fusion"] == ["attention.hidden.weight", "attention.score.weight", "classifier.1.weight"]
    assert any(n.startswith("parts.full_body.backbone.") for n in chosen["all"])
    assert not any(n.startswith(("pose.", "parts.left_hand.head")) for n in chosen["all"])  # frozen: left out
    crops, skeleton, target = make_batch(7)
    outputs = model(crops, skeleton)
    penalties = {scope: loss(outputs, target, dataclasses.replace(model.config, lambda_weights_scope=scope),
                             model)[1]["weight_penalty"] for scope in chosen}
    expected = {scope: sum(float(dict(model.named_parameters())[n].detach().pow(2).sum()) for n in names)
                for scope, names in chosen.items()}
    for scope in chosen:
        assert math.isclose(float(penalties[scope]), expected[scope], rel_tol=1e-5)
    assert penalties["all"] > 5 * penalties["fusion"]
    with pytest.raises(ValueError, match="lambda_weights_scope"):
        model.regularized_weights("trunks")


def test_test_views_need_distinct_crop_windows():
    model = tiny_model().eval()
    crops, skeleton, _ = make_batch(8, batch=2)
    # a track of exactly one window: the 5 views would all see the same crops
    with pytest.raises(ValueError, match="distinct crop windows"):
        predict_test_views(model, crops, skeleton)
    assert predict_test_views(model, crops, skeleton, views=1)["logits"].shape == (2, CLASSES)
    for total in (12, 13, 16, 40):
        starts = clip_window_starts(total, 8, 5)
        assert len(set(starts)) == 5 and starts[0] == 0 and starts[-1] == total - 8


def test_part_heads_stage_trains_the_part_classifiers_alone():
    model = tiny_model()
    configure_stage(model, "part_heads")
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(n.startswith(tuple(f"parts.{k}.head." for k in PART_NAMES)) for n in trainable)
    assert len(trainable) == 2 * len(PART_NAMES)  # weight and bias of each part's Linear
    model.train()
    restore_frozen_eval(model)
    assert all(not part.backbone.training for part in model.parts.values())  # batch-norm statistics fixed


def test_crop_size_is_no_longer_a_model_key():
    from har.config import ConfigError, from_mapping
    assert "crop_size" not in {f.name for f in dataclasses.fields(DasAttentionConfig)}
    with pytest.raises(ConfigError, match="crop_size.*video.crop_size"):
        from_mapping(DasAttentionConfig, {"crop_size": 32}, "params.yaml:train_das.model")
