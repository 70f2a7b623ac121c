"""Skeleton-driven ST-ROI model: ST-GCN joint weights × ST-ROI mosaic → ResNet-18, score ensemble."""
from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from har.layout import STROI_PARTS
from har.models.backbones.resnet2d import ResNet2d
from har.models.backbones.stgcn import STGCN
from har.models.layers import set_frozen, train_mode
from har.models.stroi_net import STROINetConfig, build_stroi_net, ensemble_scores, joint_weights, loss, weight_mosaic

NUM_CLASSES = 5
BAND = 8  # mosaic band height s → 40×40 mosaics
FRAMES = 16
TINY = STROINetConfig(gcn_widths=(8, 16, 16), gcn_depths=(1, 1, 1), resnet_width=8,
                      resnet_depths=(1, 1, 1, 1), input_size=32)


def make_batch(batch: int = 4, seed: int = 0, persons: int = 2):
    generator = torch.Generator().manual_seed(seed)
    skeleton = torch.randn(batch, 2, FRAMES, 25, 3, generator=generator)
    skeleton[:, persons:] = 0  # zero-padded person slots, as skeleton.zarr stores them
    stroi = torch.rand(batch, 3, 5 * BAND, 5 * BAND, generator=generator)
    target = torch.randint(0, NUM_CLASSES, (batch,), generator=generator)
    return skeleton, stroi, target


def make_model(config: STROINetConfig = TINY, seed: int = 0):
    torch.manual_seed(seed)
    return build_stroi_net(config, NUM_CLASSES)


def test_output_keys_and_shapes():
    skeleton, stroi, _ = make_batch()
    outputs = make_model()(skeleton, stroi)
    assert set(outputs) == {"logits", "skeleton", "rgb", "joint_weights"}
    for name in ("logits", "skeleton", "rgb"):
        assert outputs[name].shape == (4, NUM_CLASSES)
    assert outputs["joint_weights"].shape == (4, 25)
    gcn = STGCN(7, widths=(4, 4, 6), depths=(2, 1, 1))
    assert gcn.features(skeleton).shape == (4, 2, 6, FRAMES // 4, 25)  # stride 2 at stages 2 and 3: T/4


def test_joint_weights_are_eq4_per_sample_max_normalised():
    features = torch.rand(3, 2, 4, 6, 25)
    present = torch.tensor([[True, True], [True, False], [True, True]])
    raw = joint_weights(features, present, "none")
    expected_1 = features[1, 0].square().mean(dim=(0, 1))  # padded person 2 left out
    expected_0 = features[0].square().mean(dim=(1, 2)).mean(dim=0)
    torch.testing.assert_close(raw[1], expected_1)
    torch.testing.assert_close(raw[0], expected_0)
    normalised = joint_weights(features, present, "max")
    torch.testing.assert_close(normalised, raw / raw.amax(dim=1, keepdim=True))
    minmax = joint_weights(features, present, "minmax")
    assert torch.allclose(minmax.amin(dim=1), torch.zeros(3)) and torch.allclose(minmax.amax(dim=1), torch.ones(3))
    # Scaling one sample's features a hundredfold leaves every other sample's weights bit-identical.
    scaled = features.clone()
    scaled[2] *= 100.0
    changed = joint_weights(scaled, present, "max")
    assert torch.equal(changed[:2], normalised[:2])


def test_model_joint_weights_do_not_depend_on_batch_mates():
    model = make_model().eval()
    skeleton, stroi, _ = make_batch(batch=3)
    with torch.no_grad():
        before = model(skeleton, stroi)
        other = skeleton.clone()
        other[2] = 10.0 * torch.randn(2, FRAMES, 25, 3, generator=torch.Generator().manual_seed(5))
        after = model(other, stroi)
        alone = model(skeleton[:1], stroi[:1])
    torch.testing.assert_close(after["joint_weights"][:2], before["joint_weights"][:2], rtol=0, atol=1e-6)
    assert not torch.allclose(after["joint_weights"][2], before["joint_weights"][2])
    torch.testing.assert_close(alone["joint_weights"][0], before["joint_weights"][0], rtol=0, atol=1e-6)
    assert torch.allclose(before["joint_weights"].amax(dim=1), torch.ones(3))


def test_padded_person_is_ignored():
    model = make_model().eval()
    skeleton, stroi, _ = make_batch(batch=2, persons=1)
    with torch.no_grad():
        padded = model(skeleton, stroi)
        single = model(skeleton[:, :1], stroi)
    for name in ("skeleton", "joint_weights"):
        torch.testing.assert_close(padded[name], single[name], rtol=0, atol=1e-5)


def test_each_mosaic_band_is_scaled_by_its_joint_weight():
    weights = torch.rand(2, 25)
    part_joints = torch.tensor([joint for _, joint in STROI_PARTS])
    weighted = weight_mosaic(torch.ones(2, 3, 5 * BAND, 7), weights, part_joints)
    for row, (_, joint) in enumerate(STROI_PARTS):
        band = weighted[:, :, row * BAND:(row + 1) * BAND]
        assert torch.equal(band, weights[:, joint].view(2, 1, 1, 1).expand_as(band))
    # The model feeds exactly that weighted mosaic to the ResNet (no resize when the sizes agree).
    model = make_model(dataclasses.replace(TINY, input_size=5 * BAND)).eval()
    skeleton, stroi, _ = make_batch(batch=2)
    with torch.no_grad():
        outputs = model(skeleton, stroi)
        expected = model.rgb(weight_mosaic(stroi, outputs["joint_weights"], part_joints))
    torch.testing.assert_close(outputs["rgb"], expected)


def test_backward_reaches_every_parameter():
    model = make_model().train()
    skeleton, stroi, target = make_batch()
    total, parts = loss(model(skeleton, stroi), target, TINY)
    total.backward()
    assert set(parts) == {"skeleton", "rgb"}
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_joint_weights_differentiable_when_gcn_is_trained_with_the_resnet():
    model = make_model().train()
    skeleton, stroi, _ = make_batch()
    outputs = model(skeleton, stroi)
    assert outputs["joint_weights"].requires_grad
    outputs["rgb"].logsumexp(dim=1).sum().backward()  # the RGB stream alone
    gcn_grads = [p.grad for p in model.skeleton.units.parameters()]
    assert all(g is not None for g in gcn_grads) and sum(g.abs().sum() for g in gcn_grads) > 0


def test_frozen_gcn_stays_in_eval_and_its_statistics_do_not_move():
    model = make_model()
    set_frozen(model.skeleton)
    train_mode(model)  # model.train() recurses into the frozen GCN: train_mode must switch it back to eval
    assert all(not module.training for module in model.skeleton.modules())
    assert model.rgb.training
    gcn_state = {k: v.clone() for k, v in model.skeleton.state_dict().items()}
    rgb_state = {k: v.clone() for k, v in model.rgb.state_dict().items()}
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    skeleton, stroi, target = make_batch()
    outputs = model(skeleton, stroi)
    assert not outputs["joint_weights"].requires_grad and not outputs["skeleton"].requires_grad
    total, _ = loss(outputs, target, TINY)
    optimizer.zero_grad()
    total.backward()
    optimizer.step()
    for key, value in model.skeleton.state_dict().items():
        assert torch.equal(value, gcn_state[key]), key
    assert all(p.grad is None for p in model.skeleton.parameters())
    assert not torch.equal(model.rgb.state_dict()["stem.1.running_mean"], rgb_state["stem.1.running_mean"])
    assert not torch.equal(model.rgb.fc.weight, rgb_state["fc.weight"])


def test_streams_alone_match_the_full_forward():
    model = make_model().eval()
    skeleton, stroi, _ = make_batch()
    with torch.no_grad():
        outputs = model(skeleton, stroi)
        torch.testing.assert_close(model.forward_stream("skeleton", skeleton=skeleton), outputs["skeleton"])
        torch.testing.assert_close(model.forward_stream("rgb", skeleton=skeleton, stroi=stroi), outputs["rgb"])
    unweighted = make_model(dataclasses.replace(TINY, use_joint_weights=False)).eval()
    with torch.no_grad():
        assert unweighted.forward_stream("rgb", stroi=stroi).shape == (4, NUM_CLASSES)
    with pytest.raises(ValueError, match="joint weights"):
        model.forward_stream("rgb", stroi=stroi)


def test_ensemble_averages_softmax_scores_or_logits():
    skeleton_logits, rgb_logits = torch.randn(3, 6), torch.randn(3, 6)
    fused = ensemble_scores(skeleton_logits, rgb_logits, STROINetConfig(ensemble_rgb_weight=3.0))
    expected = (skeleton_logits.softmax(1) + 3.0 * rgb_logits.softmax(1)) / 4.0
    torch.testing.assert_close(fused.exp(), expected)
    skeleton_only = ensemble_scores(skeleton_logits, rgb_logits, STROINetConfig(ensemble_rgb_weight=0.0))
    torch.testing.assert_close(skeleton_only, skeleton_logits.log_softmax(1))
    mean_logits = ensemble_scores(skeleton_logits, rgb_logits, STROINetConfig(ensemble="logits"))
    torch.testing.assert_close(mean_logits, (skeleton_logits + rgb_logits) / 2)


def test_squared_error_loss_is_eq6_read_literally():
    outputs = {"skeleton": torch.tensor([[0.0, 0.0]]), "rgb": torch.tensor([[math.log(3.0), 0.0]])}
    config = STROINetConfig(loss="squared_error")
    total, parts = loss(outputs, torch.tensor([0]), config)
    torch.testing.assert_close(parts["skeleton"], torch.tensor(0.5))      # (0.5-1)² + 0.5²
    torch.testing.assert_close(parts["rgb"], torch.tensor(0.125))         # (0.75-1)² + 0.25²
    torch.testing.assert_close(total, torch.tensor(0.625))


def test_bad_inputs_raise_clear_errors():
    model = make_model().eval()
    skeleton, stroi, _ = make_batch(batch=2)
    empty = skeleton.clone()
    empty[1] = 0
    with pytest.raises(ValueError, match=r"batch rows \[1\] contain no person"):
        model(empty, stroi)
    with pytest.raises(ValueError, match="part bands"):
        model(skeleton, stroi[:, :, :-1])
    with pytest.raises(ValueError, match="skeleton"):
        model(skeleton[..., :2], stroi)
    with pytest.raises(ValueError, match="input_size"):
        STROINetConfig(input_size=4)


def test_paper_scale_parameter_counts():
    # ST-GCN (Yan et al. 2018) on NTU-60 is reported with 3.1M parameters (e.g. the comparison tables of
    # Shift-GCN, CVPR 2020); ResNet-18 (He et al. 2016) has 11.69M with the 1000-class ImageNet head.
    paper = STROINetConfig.paper()
    gcn = STGCN(60, widths=paper.gcn_widths, depths=paper.gcn_depths, temporal_kernel=paper.gcn_temporal_kernel)
    assert abs(sum(p.numel() for p in gcn.parameters()) - 3.1e6) / 3.1e6 < 0.01
    resnet = ResNet2d(1000, width=paper.resnet_width, depths=paper.resnet_depths)
    assert sum(p.numel() for p in resnet.parameters()) == 11_689_512
    assert paper.input_size == 225


def test_tiny_overfit_decreases_loss():
    model = make_model().train()
    skeleton, stroi, target = make_batch()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(12):
        total, _ = loss(model(skeleton, stroi), target, TINY)
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        losses.append(total.item())
    assert losses[-1] < 0.5 * losses[0]


def test_paper_profile_trains_both_streams_on_eq6_squared_error_including_the_gcn_phase():
    from har.train.recipes.stroi import SPEC, gcn_objective
    assert STROINetConfig.paper().loss == "squared_error" and STROINetConfig().loss == "cross_entropy"
    logits, target = torch.tensor([[0.0, 0.0], [math.log(3.0), 0.0]]), torch.tensor([0, 1])
    squared, _ = gcn_objective({"logits": logits}, target, STROINetConfig(loss="squared_error"))
    torch.testing.assert_close(squared, torch.tensor((0.5 + 1.125) / 2))  # 0.5² + 0.5²; 0.75² + (0.25 − 1)²
    entropy, _ = gcn_objective({"logits": logits}, target, STROINetConfig())
    torch.testing.assert_close(entropy, torch.nn.functional.cross_entropy(logits, target))
    # The GCN phase depends on model.loss, so its finished checkpoint must not be reused across losses.
    assert "model.loss" not in SPEC.late_keys
