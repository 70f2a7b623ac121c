"""Tests for AMFI-Net (har.models.amfi_net) and its backbones (ResNet3D-18, 2s-AGCN)."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from har.config import ConfigError, from_mapping
from har.layout import NTU_PARENT
from har.models.amfi_net import (
    FUSIONS,
    AmfiNetConfig,
    build_amfi_net,
    gate_per_class,
    gate_statistics,
    loss,
    set_stage,
    stream_loss,
    with_fusion,
)
from har.models.backbones.agcn import AGCN, AdaptiveGraphConv, bone_vectors, person_weights
from har.models.backbones.resnet3d import ResNet3d
from har.models.graph import spatial_partition
from har.models.layers import restore_frozen_eval

NUM_CLASSES = 5
# Small inputs: every part is size-agnostic in T, H, W (global pooling), which keeps the file fast.
RGB_SHAPE = (3, 8, 32, 32)
SKELETON_FRAMES = 16


pytestmark = pytest.mark.usefixtures("single_thread")  # tests/conftest.py


def make_inputs(batch: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    rgb = torch.rand(batch, *RGB_SHAPE, generator=generator)
    skeleton = torch.randn(batch, 2, SKELETON_FRAMES, 25, 3, generator=generator)
    target = torch.arange(batch) % NUM_CLASSES
    return rgb, skeleton, target


def make_model(**overrides) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_amfi_net(dataclasses.replace(AmfiNetConfig(), **overrides), NUM_CLASSES)


def test_forward_outputs_shapes_and_keys():
    model = make_model()
    rgb, skeleton, _ = make_inputs(3)
    outputs = model(rgb, skeleton)
    dim = model.config.feature_dim
    for key in ("logits", "rgb", "skeleton", "joint", "bone"):
        assert outputs[key].shape == (3, NUM_CLASSES), key
    for key in ("rgb_features", "skeleton_features", "fusion_features", "gate", "gate_logits"):
        assert outputs[key].shape == (3, dim), key
    assert torch.all((outputs["gate"] >= 0) & (outputs["gate"] <= 1))
    assert torch.allclose(outputs["skeleton"], outputs["joint"] + outputs["bone"])
    alone = model.forward_stream("rgb", rgb)
    assert set(alone) == {"rgb", "rgb_features"}
    assert torch.allclose(alone["rgb"], outputs["rgb"])


def test_default_feature_size_matches_between_streams_and_paper_scale():
    config = AmfiNetConfig()
    assert config.rgb_channels == (8, 16, 32, 64) and config.agcn_channels[-1] == 64
    paper = AmfiNetConfig.paper()
    assert paper.rgb_channels == (64, 128, 256, 512)
    assert paper.agcn_channels == (64, 64, 64, 128, 128, 128, 256, 256, 256, 512)
    assert paper.feature_dim == 512 and paper.rgb_size == 112 and paper.rgb_stem_kernel == (7, 7, 7)


def test_backward_reaches_every_parameter():
    model = make_model()
    rgb, skeleton, target = make_inputs(4)
    outputs = model(rgb, skeleton)
    total = (loss(outputs, target, model.config)[0] + stream_loss(outputs, target, "rgb")[0]
             + stream_loss(outputs, target, "skeleton")[0])
    total.backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


@pytest.mark.parametrize("stage", ["rgb", "skeleton", "fusion"])
def test_set_stage_trains_one_part_and_keeps_frozen_parts_in_eval(stage):
    model = make_model()
    set_stage(model, stage)
    model.train()
    restore_frozen_eval(model)
    frozen = [name for name in ("rgb", "skeleton", "fusion") if name != stage]
    before = {name: [b.clone() for b in getattr(model, name).buffers()] for name in frozen}
    rgb, skeleton, target = make_inputs(4)
    if stage == "fusion":
        outputs = model(rgb, skeleton)
        total = loss(outputs, target, model.config)[0]
    else:
        outputs = model.forward_stream(stage, rgb if stage == "rgb" else skeleton)
        total = stream_loss(outputs, target, stage)[0]
    total.backward()
    assert getattr(model, stage).training
    for name in frozen:
        part = getattr(model, name)
        assert not part.training and all(not m.training for m in part.modules())
        assert all(p.grad is None and not p.requires_grad for p in part.parameters())
        assert all(torch.equal(a, b) for a, b in zip(before[name], part.buffers()))  # BN statistics fixed
    assert all(p.grad is not None for p in getattr(model, stage).parameters())


def test_frozen_streams_run_without_autograd_graph():
    model = set_stage(make_model(), "fusion")
    rgb, skeleton, _ = make_inputs(2)
    outputs = model(rgb, skeleton)
    assert outputs["rgb_features"].grad_fn is None and outputs["skeleton_features"].grad_fn is None
    assert outputs["logits"].grad_fn is not None


def test_amfi_gate_combines_halves_of_weighted_features():
    model = make_model().eval()
    rgb, skeleton, _ = make_inputs(2)
    outputs = model(rgb, skeleton)
    fusion = model.fusion
    concatenated = torch.cat([outputs["skeleton_features"], outputs["rgb_features"]], dim=1)
    y_skeleton, y_rgb = fusion.weighting(fusion.association(concatenated)).chunk(2, dim=1)
    gate = outputs["gate"]
    assert torch.allclose(gate, torch.sigmoid(fusion.gate(y_skeleton)))
    assert torch.allclose(outputs["fusion_features"], y_skeleton * gate + y_rgb * (1 - gate), atol=1e-6)
    with torch.no_grad():  # a saturated gate selects one modality
        fusion.gate.weight.zero_()
        fusion.gate.bias.fill_(40.0)
        assert torch.allclose(model(rgb, skeleton)["fusion_features"], y_skeleton, atol=1e-6)
        fusion.gate.bias.fill_(-40.0)
        assert torch.allclose(model(rgb, skeleton)["fusion_features"], y_rgb, atol=1e-6)


def test_rgb_decision_modality_gates_from_rgb_half():
    model = make_model(decision_modality="rgb").eval()
    rgb, skeleton, _ = make_inputs(2)
    outputs = model(rgb, skeleton)
    fusion = model.fusion
    concatenated = torch.cat([outputs["skeleton_features"], outputs["rgb_features"]], dim=1)
    y_skeleton, y_rgb = fusion.weighting(fusion.association(concatenated)).chunk(2, dim=1)
    gate = torch.sigmoid(fusion.gate(y_rgb))
    assert torch.allclose(outputs["fusion_features"], y_rgb * gate + y_skeleton * (1 - gate), atol=1e-6)


def test_non_local_block_is_identity_when_w_z_is_zero_and_mixes_positions_otherwise():
    model = make_model(nonlocal_positions=4)
    block = model.fusion.association
    x = torch.randn(3, 2 * model.config.feature_dim)
    mixed = block(x)
    assert mixed.shape == x.shape and not torch.allclose(mixed, x)
    with torch.no_grad():
        block.w_z.weight.zero_()
        block.w_z.bias.zero_()
    assert torch.equal(block(x), x)


def test_loss_is_cross_entropy_plus_lambda_times_mean_negative_log_one_minus_gate():
    model = make_model(gate_lambda=1.5)
    rgb, skeleton, target = make_inputs(4)
    outputs = model(rgb, skeleton)
    total, parts = loss(outputs, target, model.config)
    expected_gate = -torch.log(1 - outputs["gate"]).mean()
    expected_ce = torch.nn.functional.cross_entropy(outputs["logits"], target)
    assert torch.allclose(parts["gate"], expected_gate, atol=1e-5)
    assert torch.allclose(total, expected_ce + 1.5 * expected_gate, atol=1e-5)
    stats = gate_statistics(outputs["gate"])
    assert stats["gate_mean"] == pytest.approx(outputs["gate"].mean().item(), abs=1e-6)
    assert stats["gate_var"] == pytest.approx(outputs["gate"].var(unbiased=False).item(), abs=1e-6)


@pytest.mark.parametrize("fusion", [f for f in FUSIONS if f != "amfi"])
def test_baseline_fusions_fuse_stream_features_without_gate(fusion):
    model = build_amfi_net(with_fusion(AmfiNetConfig(), fusion), NUM_CLASSES).eval()
    rgb, skeleton, target = make_inputs(2)
    outputs = model(rgb, skeleton)
    s, r = outputs["skeleton_features"], outputs["rgb_features"]
    expected = {"average": (s + r) / 2, "multiply": s * r, "max": torch.maximum(s, r),
                "concatenate": torch.cat([s, r], dim=1)}[fusion]
    assert torch.allclose(outputs["fusion_features"], expected)
    assert outputs["logits"].shape == (2, NUM_CLASSES) and "gate" not in outputs
    total, parts = loss(outputs, target, model.config)
    assert parts["gate"] == 0 and torch.allclose(total, parts["fusion"])


def test_bone_vectors_subtract_the_parent_joint():
    joints = torch.randn(2, 2, 4, 25, 3)
    bones = bone_vectors(joints)
    assert torch.equal(bones[..., 20, :], torch.zeros(2, 2, 4, 3))  # spine shoulder is the root
    assert torch.allclose(bones[..., 0, :], joints[..., 0, :] - joints[..., 1, :])  # spine base -> spine mid
    assert torch.allclose(bones[..., 7, :], joints[..., 7, :] - joints[..., 6, :])  # left hand -> left wrist
    assert NTU_PARENT[21] == 22 and torch.allclose(bones[..., 21, :], joints[..., 21, :] - joints[..., 22, :])


def test_person_weights_average_over_present_persons_only():
    skeleton = torch.zeros(3, 2, 4, 25, 3)
    skeleton[0, 0] = 1.0
    skeleton[1] = 1.0
    weights = person_weights(skeleton)  # sample 2 is all zero: falls back to the first slot
    assert torch.equal(weights, torch.tensor([[1.0, 0.0], [0.5, 0.5], [1.0, 0.0]]))


def test_absent_second_person_does_not_change_features():
    torch.manual_seed(0)
    network = AGCN(channels=(8, 8, 16), strides=(1, 2, 1)).eval()
    skeleton = torch.zeros(1, 2, 8, 25, 3)
    skeleton[0, 0] = torch.randn(8, 25, 3)
    alone = network(skeleton)
    both = network(torch.cat([skeleton[:, :1], torch.randn(1, 1, 8, 25, 3)], dim=1))
    per_person = network(skeleton, torch.tensor([[1.0, 0.0]]))
    assert torch.allclose(alone, per_person) and not torch.allclose(alone, both)


def test_adaptive_graph_starts_from_physical_graph_and_data_graph_is_normalised():
    adjacency = torch.as_tensor(spatial_partition())
    layer = AdaptiveGraphConv(4, 8, adjacency, embed_channels=2)
    assert torch.equal(layer.adjacency, adjacency) and torch.count_nonzero(layer.learned) == 0
    graph = layer.data_graph(torch.randn(2, 4, 6, 25))
    assert graph.shape == (2, 3, 25, 25)
    assert torch.allclose(graph.sum(dim=2), torch.ones(2, 3, 25), atol=1e-5)  # softmax over source joints
    assert layer(torch.randn(2, 4, 6, 25)).shape == (2, 8, 6, 25)


def test_bad_inputs_and_config_raise_clear_errors():
    model = make_model().eval()
    rgb, skeleton, _ = make_inputs(1)
    with pytest.raises(ValueError, match="RGB input"):
        model(rgb[:, :2], skeleton)
    with pytest.raises(ValueError, match="V=25"):
        model(rgb, skeleton[:, :, :, :17])
    with pytest.raises(ValueError, match="fusion"):
        AmfiNetConfig(fusion="sum")
    with pytest.raises(ValueError, match="feature sizes"):
        AmfiNetConfig(agcn_base_channels=(64, 128, 256), agcn_strides=(1, 2, 2))
    with pytest.raises(ValueError, match="stream"):
        model.forward_stream("depth", rgb)


def test_paper_scale_parameter_counts_match_published_figures():
    # ResNet3D-18 (Hara et al. 2018; AMFI-Net Sec. 3.2 quotes "33 M"): 33.2 M without the classifier.
    assert sum(p.numel() for p in ResNet3d().parameters()) == pytest.approx(33.2e6, rel=0.01)
    # One 2s-AGCN stream (64x4, 128x3, 256x3 + FC-60): 3.47 M (MS-G3D, Liu et al. CVPR 2020, Table 5: 6.94 M
    # for both streams). AMFI-Net's variant adds the 512-channel block on top of 3 blocks per width.
    original = AGCN(channels=(64, 64, 64, 64, 128, 128, 128, 256, 256, 256), strides=(1, 1, 1, 1, 2, 1, 1, 2, 1, 1))
    assert sum(p.numel() for p in original.parameters()) + 256 * 60 + 60 == pytest.approx(3.47e6, rel=0.01)


def test_tiny_overfit_decreases_loss():
    model = make_model()
    rgb, skeleton, target = make_inputs(4, seed=1)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(4):
        optimizer.zero_grad()
        outputs = model(rgb, skeleton)
        total = (loss(outputs, target, model.config)[0] + stream_loss(outputs, target, "rgb")[0]
                 + stream_loss(outputs, target, "skeleton")[0])
        total.backward()
        optimizer.step()
        losses.append(total.item())
    assert losses[-1] < 0.8 * losses[0], losses


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_paper_profile_has_one_agcn_stream_and_the_published_size():
    # Sec. 3.2 describes one AGCN; Sec. 4.2: "The overall model complexity of this paper is 43.26 M#Params".
    paper = AmfiNetConfig.paper()
    assert paper.skeleton_streams == ("joint",)
    model = build_amfi_net(paper, 60)
    assert count(model) == pytest.approx(43.26e6, rel=0.03)
    assert set(model.skeleton.networks) == {"joint"}
    # Today's two streams (2s-AGCN, the CPU default) would be 6.6 M larger: outside the published size.
    two_streams = count(model) + count(model.skeleton.networks["joint"]) + count(model.skeleton.heads["joint"])
    assert two_streams > 1.03 * 43.26e6
    outputs = model.skeleton(torch.randn(1, 2, 8, 25, 3))
    assert set(outputs) == {"joint", "skeleton", "skeleton_features"}
    assert torch.equal(outputs["skeleton"], outputs["joint"])


def test_frame_counts_are_not_model_keys():
    assert not {"rgb_frames", "skeleton_frames"} & {f.name for f in dataclasses.fields(AmfiNetConfig)}
    with pytest.raises(ConfigError, match=r"key 'skeleton_frames' was removed: .*skeletons\.frames"):
        from_mapping(AmfiNetConfig, {"skeleton_frames": 32}, "params.yaml:train_amfi.model")


def gate_outputs(gate_logits: torch.Tensor, skeleton_logits: torch.Tensor) -> dict[str, torch.Tensor]:
    return {"logits": torch.zeros(len(gate_logits), 3), "gate_logits": gate_logits, "gate": gate_logits.sigmoid(),
            "skeleton": skeleton_logits, "rgb": -skeleton_logits}


def test_reliability_gate_loss_is_eq20_for_an_unreliable_stream_and_rewards_the_gate_for_a_reliable_one():
    target = torch.tensor([0, 1])
    gate_logits = torch.tensor([[0.5, -1.0], [2.0, 0.0]], requires_grad=True)
    skeleton_logits = torch.tensor([[math.log(3.0), 0.0, 0.0], [0.0, 0.0, 0.0]])  # r = 0.6 and 1/3
    reliability = torch.tensor([[0.6], [1 / 3]])
    config = AmfiNetConfig(gate_loss="reliability", gate_lambda=2.0)
    total, parts = loss(gate_outputs(gate_logits, skeleton_logits), target, config)
    y = gate_logits.detach().sigmoid()
    expected = -(reliability * y.log() + (1 - reliability) * (1 - y).log()).mean()
    torch.testing.assert_close(parts["gate"], expected)
    torch.testing.assert_close(total, parts["fusion"] + 2.0 * expected)
    torch.testing.assert_close(parts["gate_value"], y.mean())
    # A skeleton stream that is certainly wrong (r = 0) gives Eq. 20 exactly, as the literal reading does.
    wrong = torch.tensor([[-50.0, 50.0, 0.0], [50.0, -50.0, 0.0]])
    literal = loss(gate_outputs(gate_logits, wrong), target, AmfiNetConfig())[1]["gate"]
    torch.testing.assert_close(loss(gate_outputs(gate_logits, wrong), target, config)[1]["gate"], literal)
    torch.testing.assert_close(literal, -(1 - y).log().mean())
    # A certainly right skeleton stream (r = 1) pulls the gate up (towards the skeleton); Eq. 20 always pulls down.
    right = -wrong
    for reading, sign in ((config, -1.0), (AmfiNetConfig(), 1.0)):
        gate_logits.grad = None
        loss(gate_outputs(gate_logits, right), target, reading)[0].backward()
        assert torch.all(torch.sign(gate_logits.grad) == sign), reading.gate_loss
    with pytest.raises(ValueError, match="gate_loss"):
        AmfiNetConfig(gate_loss="inverse")


def test_rgb_decision_modality_takes_its_reliability_from_the_rgb_stream():
    target = torch.tensor([0])
    gate_logits = torch.zeros(1, 2)
    skeleton_logits = torch.tensor([[50.0, -50.0, 0.0]])  # skeleton right, so rgb = −skeleton is wrong (r = 0)
    config = AmfiNetConfig(gate_loss="reliability", decision_modality="rgb")
    gate = loss(gate_outputs(gate_logits, skeleton_logits), target, config)[1]["gate"]
    torch.testing.assert_close(gate, torch.tensor(math.log(2.0)))  # −log(1 − 0.5)


def test_gate_distribution_is_reported_per_class():
    from har.train.recipes.amfi import summarize
    gates = np.array([[0.1, 0.3], [0.3, 0.5], [0.9, 0.9], [0.5, 0.7], [0.8, 1.0]])  # sample means .2 .4 .9 .6 .9
    target = np.array([0, 0, 1, 0, 1])
    rows = gate_per_class(gates, target, ["A001", "A002", "A003"])
    assert set(rows) == {"A001", "A002"}  # A003 has no test sample
    assert rows["A001"]["n"] == 3 and rows["A001"]["mean"] == pytest.approx(0.4)
    assert rows["A001"]["q50"] == pytest.approx(0.4) and rows["A001"]["q05"] == pytest.approx(0.22)
    assert rows["A002"]["q95"] == pytest.approx(0.9) and rows["A002"]["q25"] == pytest.approx(0.9)
    metrics = summarize({"gate": gates.astype(np.float32), "target": target}, np.array([0, 1, 2]))
    assert metrics["gate_per_class"]["A002"]["mean"] == pytest.approx(0.9)
    assert metrics["gate_quantiles"]["q50"] == pytest.approx(0.6)
    assert metrics["gate_mean"] == pytest.approx(gates.mean(), abs=1e-6)
