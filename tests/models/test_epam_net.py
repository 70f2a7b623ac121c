"""Tests for EPAM-Net (har.models.epam_net) and its X3D backbone (har.models.backbones.x3d)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from har.config import from_mapping, to_mapping
from har.models.backbones.x3d import X3D, X3DConfig, X3DHead, se_hidden_width
from har.models.epam_net import (
    EpamNet,
    EpamNetConfig,
    EpamStream,
    PoseDrivenAttention,
    build_epam_net,
    fuse_scores,
    loss,
)
from har.models.layers import restore_frozen_eval, set_frozen
from har.transforms.sample import subsample

NUM_CLASSES = 5


pytestmark = pytest.mark.usefixtures("single_thread")  # tests/conftest.py


def small_config(**overrides) -> EpamNetConfig:
    """The default layout on small inputs (RGB 4x32x32 -> 4x2x2, pose 12x16x16 -> 12x2x2 -> 4x2x2): fast tests."""
    values = dict(rgb_frames=4, rgb_size=32, pose_frames=12, pose_size=16, temporal_reduction=2)
    values.update(overrides)
    return dataclasses.replace(EpamNetConfig(), **values)


def make_inputs(config: EpamNetConfig, batch: int, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    rgb = torch.randn(batch, 3, config.rgb_frames, config.rgb_size, config.rgb_size, generator=generator)
    heatmaps = torch.rand(batch, config.pose.in_channels, config.pose_frames, config.pose_size, config.pose_size,
                          generator=generator)
    return rgb, heatmaps, torch.arange(batch) % NUM_CLASSES


def test_default_forward_shapes_keys_and_ranges():
    config = EpamNetConfig()
    assert config.feature_size() == 4 and config.time_stride() == 2 and config.time_offset() == 1
    model = build_epam_net(config, NUM_CLASSES).eval()
    rgb, heatmaps, _ = make_inputs(config, 2)
    with torch.no_grad():
        outputs = model(rgb, heatmaps)
    assert set(outputs) == {"logits", "rgb", "pose", "spatial_attention", "temporal_attention"}
    for key in ("logits", "rgb", "pose"):
        assert outputs[key].shape == (2, NUM_CLASSES)
    assert outputs["spatial_attention"].shape == (2, 16, 4, 4)
    assert outputs["temporal_attention"].shape == (2, 16)
    for key in ("spatial_attention", "temporal_attention"):
        assert 0 < outputs[key].min() and outputs[key].max() < 1
    assert torch.isfinite(outputs["logits"]).all()


def test_paper_scale_layout():
    """Tables 1 and 2: RGB 16x224x224 and pose 48x56x56 both end at 7x7 (output_size is checked against the real
    backbone below); a forward on small frames checks the paper model's widths and its 16-frame attention."""
    config = EpamNetConfig.paper()
    assert config.rgb.output_size(224) == 7 and config.pose.output_size(56) == 7 and config.feature_size() == 7
    assert config.rgb.out_channels() == 432 and config.pose.out_channels() == 216
    assert config.rgb.inner_widths() == (54, 108, 216, 432) and config.pose.inner_widths() == (54, 108, 216)
    assert config.rgb.depths == (3, 5, 11, 7) and config.pose.depths == (5, 11, 7)
    model = EpamNet(config, 60).eval()
    rgb, heatmaps = torch.randn(1, 3, 16, 64, 64), torch.rand(1, 25, 48, 16, 16)  # both -> 2x2
    with torch.no_grad():
        assert model.rgb.backbone(rgb).shape == (1, 432, 16, 2, 2)
        assert model.pose.backbone(heatmaps).shape == (1, 216, 48, 2, 2)
        outputs = model(rgb, heatmaps)
    assert outputs["spatial_attention"].shape == (1, 16, 2, 2) and outputs["logits"].shape == (1, 60)


def test_paper_parameter_counts_match_published_figures():
    """EPAM-Net paper: RGB-X3D 3.1M (Table 6, NTU60) and 3.22M (Table 4, NTU120); Pose-X3D 543.76k (Tables 4
    and 7; 17 HRNet joints); whole network 3.76M (Table 4)."""
    paper = EpamNetConfig.paper()
    for classes, published in ((60, 3.10e6), (120, 3.22e6)):
        rgb = sum(p.numel() for p in EpamStream(paper.rgb, paper.rgb_head_hidden, 0.5, classes).parameters())
        assert abs(rgb - published) / published < 0.005, (classes, rgb)
    pose = sum(p.numel() for p in EpamStream(X3DConfig.pose_x3d_s(in_channels=17), 0, 0.5, 60).parameters())
    assert abs(pose - 543.76e3) / 543.76e3 < 0.001, pose
    total = sum(p.numel() for p in EpamNet(paper, 120).parameters())
    assert abs(total - 3.76e6) / 3.76e6 < 0.01, total


def test_se_width_rounding():
    assert [se_hidden_width(c, 16) for c in (27, 54, 108, 216, 432)] == [8, 8, 8, 16, 32]


@pytest.mark.parametrize("size", [30, 33, 64])
def test_output_size_matches_the_real_backbone(size):
    config = X3DConfig(base_width=4, depths=(1, 1), spatial_strides=(2, 1), se_reduction=4)
    out = X3D(config)(torch.randn(1, 3, 3, size, size))
    assert out.shape == (1, config.out_channels(), 3, config.output_size(size), config.output_size(size))


def test_backward_reaches_every_parameter():
    # temporal_reduction 1: A_T's bottleneck of 4 units (2 could all sit in ReLU's dead zone for this input)
    config = small_config(rgb=dataclasses.replace(EpamNetConfig().rgb, zero_init_last_bn=False),
                          pose=dataclasses.replace(EpamNetConfig().pose, zero_init_last_bn=False),
                          temporal_reduction=1)
    model = build_epam_net(config, NUM_CLASSES).train()
    rgb, heatmaps, target = make_inputs(config, 8)  # enough samples that no ReLU of the tiny A_T bottleneck is dead
    total, parts = loss(model(rgb, heatmaps), target, config)
    assert set(parts) == {"rgb", "pose"}
    total.backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing


def test_rgb_loss_reaches_pose_backbone_through_attention_only():
    config = small_config()
    model = build_epam_net(config, NUM_CLASSES).train()
    rgb, heatmaps, target = make_inputs(config, 3)
    F.cross_entropy(model(rgb, heatmaps)["rgb"], target).backward()
    assert model.pose.backbone.conv5[0].weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.pose.head.parameters())


def test_time_strided_alignment_uses_only_matching_pose_frames():
    attention = PoseDrivenAttention(pose_channels=6, frames=4, time_stride=3, time_offset=1, temporal_reduction=2)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():  # small positive weights, positive features: no dead ReLU, no saturated sigmoid
        for parameter in attention.parameters():
            parameter.copy_(torch.rand(parameter.shape, generator=generator) * 0.04 + 0.01)
    features = torch.rand(2, 6, 12, 5, 5, generator=generator)
    spatial, temporal = attention(features)
    assert spatial.shape == (2, 1, 4, 5, 5) and temporal.shape == (2, 1, 4, 1, 1)
    unused = features.clone()
    unused[:, :, [0, 2, 3, 5]] = torch.rand(2, 6, 4, 5, 5, generator=generator)
    assert torch.equal(attention(unused)[0], spatial)
    moved = features.clone()
    moved[:, :, 7] = torch.rand(2, 6, 5, 5, generator=generator)  # pose frame 7 = RGB frame 2 (offset 1, stride 3)
    changed = (attention(moved)[0] != spatial).flatten(3).any(dim=3)[:, 0]
    assert changed[:, 2].all() and not changed[:, [0, 1, 3]].any()
    with pytest.raises(ValueError, match="expected pose features"):
        attention(torch.rand(2, 6, 13, 5, 5))


def test_default_time_offset_matches_the_projects_rgb_subsampling():
    """The RGB clip's frames are `subsample` of the 32 heatmap frames (every second, middle of each pair): the
    attention must read exactly those pose frames."""
    config = EpamNetConfig()
    picked = subsample(np.arange(config.pose_frames), config.rgb_frames)
    assert picked.tolist() == list(range(config.time_offset(), config.pose_frames, config.time_stride()))


def test_attended_rgb_features_feed_the_rgb_head():
    """f'_r = f_r * A_S * A_T: recomputing the head on that product gives the model's RGB logits."""
    config = small_config()
    model = build_epam_net(config, NUM_CLASSES).eval()
    rgb, heatmaps, _ = make_inputs(config, 2)
    with torch.no_grad():
        outputs = model(rgb, heatmaps)
        weights = outputs["spatial_attention"] * outputs["temporal_attention"][:, :, None, None]
        expected = model.rgb.head(model.rgb.backbone(rgb) * weights[:, None])
        alone = model.forward_stream("rgb", rgb)
    torch.testing.assert_close(outputs["rgb"], expected)
    assert set(alone) == {"logits", "rgb"} and not torch.allclose(alone["rgb"], outputs["rgb"])


@pytest.mark.parametrize("weights", [(1.0, 1.0), (2.0, 1.0), (1.0, 0.0)])
def test_softmax_score_fusion(weights):
    config = small_config(fusion_weights=weights)
    rgb_logits, pose_logits = torch.randn(3, NUM_CLASSES) * 5, torch.randn(3, NUM_CLASSES) * 5
    fused = fuse_scores(rgb_logits, pose_logits, config)
    expected = (weights[0] * rgb_logits.softmax(1) + weights[1] * pose_logits.softmax(1)) / sum(weights)
    torch.testing.assert_close(fused.exp(), expected)
    assert torch.isfinite(fused).all()


def test_logit_score_fusion():
    config = small_config(fusion="logits", fusion_weights=(0.5, 2.0))
    rgb_logits, pose_logits = torch.randn(3, NUM_CLASSES), torch.randn(3, NUM_CLASSES)
    torch.testing.assert_close(fuse_scores(rgb_logits, pose_logits, config), 0.5 * rgb_logits + 2.0 * pose_logits)


def test_loss_is_the_sum_of_both_cross_entropies():
    rgb_logits, pose_logits = torch.randn(4, NUM_CLASSES), torch.randn(4, NUM_CLASSES)
    target = torch.tensor([0, 1, 2, 3])
    total, parts = loss({"logits": rgb_logits, "rgb": rgb_logits, "pose": pose_logits}, target)
    torch.testing.assert_close(total, F.cross_entropy(rgb_logits, target) + F.cross_entropy(pose_logits, target))
    single, single_parts = loss({"logits": pose_logits, "pose": pose_logits}, target)
    assert set(single_parts) == {"pose"}
    torch.testing.assert_close(single, F.cross_entropy(pose_logits, target))
    with pytest.raises(ValueError, match="none of the stream logits"):
        loss({"logits": rgb_logits}, target)


def test_frozen_pose_stream_stays_eval_and_gradient_free():
    config = small_config()
    model = build_epam_net(config, NUM_CLASSES)
    set_frozen(model.pose)
    model.train()
    restore_frozen_eval(model)
    assert not any(m.training for m in model.pose.modules()) and model.rgb.training
    stats = model.pose.backbone.stem.bn.running_mean.clone()
    rgb, heatmaps, target = make_inputs(config, 3)
    loss(model(rgb, heatmaps), target, config)[0].backward()
    assert torch.equal(model.pose.backbone.stem.bn.running_mean, stats)
    assert all(p.grad is None for p in model.pose.parameters())
    assert model.attention.compress.weight.grad is not None


def test_config_rejects_misaligned_maps_and_frames():
    with pytest.raises(ValueError, match="pose attention needs equal maps"):
        dataclasses.replace(EpamNetConfig(), pose_size=64)
    with pytest.raises(ValueError, match="multiple of rgb_frames"):
        dataclasses.replace(EpamNetConfig(), pose_frames=40)
    with pytest.raises(ValueError, match="pose_time_offset"):
        dataclasses.replace(EpamNetConfig(), pose_time_offset=3)
    with pytest.raises(ValueError, match="fusion_weights"):
        dataclasses.replace(EpamNetConfig(), fusion_weights=(0.0, 0.0))


def test_config_loads_from_params_mappings():
    """Nested params.yaml sections start from the CPU layout, and the paper config round-trips."""
    config = from_mapping(EpamNetConfig, {"rgb": {"base_width": 12}, "fusion_weights": [2, 1]}, "params:epam")
    assert config.rgb.base_width == 12 and config.rgb.depths == EpamNetConfig().rgb.depths
    assert config.fusion_weights == (2.0, 1.0)
    assert from_mapping(EpamNetConfig, to_mapping(EpamNetConfig.paper()), "paper") == EpamNetConfig.paper()


def test_model_rejects_inputs_that_do_not_align():
    config = small_config()
    model = build_epam_net(config, NUM_CLASSES).eval()
    rgb, heatmaps, _ = make_inputs(config, 1)
    with pytest.raises(ValueError, match="do not align"):
        model(rgb, heatmaps[..., :8, :8])
    with pytest.raises(ValueError, match=r"expected input \(B, 25"):
        model.forward_stream("pose", heatmaps[:, :17])
    with pytest.raises(ValueError, match="unknown stream"):
        model.forward_stream("skeleton", heatmaps)


def test_building_is_deterministic_and_leaves_global_rng_alone():
    state = torch.get_rng_state()
    first, second = build_epam_net(small_config(), NUM_CLASSES), build_epam_net(small_config(), NUM_CLASSES)
    assert torch.equal(torch.get_rng_state(), state)
    for (name, a), b in zip(first.state_dict().items(), second.state_dict().values()):
        assert torch.equal(a, b), name
    other = build_epam_net(small_config(), NUM_CLASSES, generator=torch.Generator().manual_seed(1))
    assert not torch.equal(other.rgb.head.fc.weight, first.rgb.head.fc.weight)


def test_head_without_hidden_layer_is_gap_then_fc():
    head = X3DHead(in_channels=6, num_classes=3, hidden=0, dropout=0.0)
    features = torch.rand(2, 6, 3, 4, 4)
    torch.testing.assert_close(head(features), head.fc(features.mean(dim=(2, 3, 4))))


def test_tiny_overfit_decreases_loss():
    config = small_config(dropout=0.0)
    model = build_epam_net(config, NUM_CLASSES).train()
    rgb, heatmaps, target = make_inputs(config, 4)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(8):
        total, _ = loss(model(rgb, heatmaps), target, config)
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        losses.append(total.item())
    assert losses[-1] < 0.5 * losses[0], losses
