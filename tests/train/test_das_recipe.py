"""The Das et al. recipe: crop windows (temporal jitter in training, distinct test views), its store check, and the
part-head refit that makes the per-part metrics those of the final trunks."""
from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from har.config import ConfigError
from har.models.das_attention import PART_NAMES, DasAttentionConfig
from har.train.recipes import das

TINY = DasAttentionConfig(i3d_width=0.0625, clip_frames=6, pose_steps=4, lstm_hidden=8, lstm_layers=1,
                          attention_hidden=8, lstm_dropout=0.0, test_views=5)
STORED = 10  # crop frames in the store: 5 distinct windows of 6


def arrays(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    crops = np.repeat(np.arange(STORED, dtype=np.uint8)[None, :, None, None, None] * 20, 3, axis=0)
    crops = np.broadcast_to(crops, (3, STORED, 8, 8, 3)).copy()  # frame f has the value 20 f everywhere
    return {"crops": crops, "x": rng.normal(size=(2, 12, 25, 3)).astype(np.float32)}


def test_training_takes_a_random_window_and_evaluation_the_whole_track():
    config = das.DasTrain(model=TINY)
    starts = set()
    for seed in range(40):
        window = das.crop_window(arrays()["crops"], TINY.clip_frames, np.random.default_rng(seed))
        assert window.shape == (3, TINY.clip_frames, 8, 8, 3)
        first = int(window[0, 0, 0, 0, 0]) // 20
        assert np.array_equal(window[0, :, 0, 0, 0] // 20, np.arange(first, first + TINY.clip_frames))
        starts.add(first)
    assert starts == set(range(STORED - TINY.clip_frames + 1))  # every start is drawn: temporal jitter
    train = das.das_inputs(config, arrays(), np.random.default_rng(0))
    test = das.das_inputs(config, arrays(), None)
    assert train["crops"].shape == (3, 3, TINY.clip_frames, 8, 8)
    assert test["crops"].shape == (3, 3, STORED, 8, 8)
    with pytest.raises(ValueError, match="fewer than the window"):
        das.crop_window(arrays()["crops"][:, :4], TINY.clip_frames, None)


def test_the_five_test_views_see_distinct_crop_windows():
    config = das.DasTrain(model=TINY)
    torch.manual_seed(0)
    model = das.SPEC.build(TINY, 4).eval()
    seen = []
    model.register_forward_pre_hook(lambda module, args: seen.append(args[0][0, 0, 0, :, 0, 0].clone()))
    batch = {k: torch.from_numpy(v[None]) for k, v in das.das_inputs(config, arrays(), None).items()}
    das.predict(model, batch)
    assert len(seen) == 5
    firsts = [float(view[0]) for view in seen]
    assert len(set(firsts)) == 5  # five different windows of the stored track
    # validation (a training phase's forward in eval mode) takes the centre window
    centre = das._window(model, batch["crops"])
    assert centre.shape[3] == TINY.clip_frames and not torch.equal(centre, batch["crops"][:, :, :, :6])


def store(frames: int) -> dict:
    return {"skeleton": SimpleNamespace(attrs={"persons": 2, "joints": 25}),
            "part_crops": SimpleNamespace(attrs={"frames": frames, "size": 8})}


def test_the_store_must_hold_distinct_test_windows():
    config = das.DasTrain(model=TINY)
    assert das.bind_stores(config, store(STORED)) is config
    with pytest.raises(ConfigError, match=r"train_das\.model\.clip_frames=6 with test_views=5 needs a crop track of "
                                          r"at least 10 frames.*video\.clip_frames=9"):
        das.bind_stores(config, store(9))
    one_view = das.DasTrain(model=dataclasses.replace(TINY, test_views=1))
    assert das.bind_stores(one_view, store(6)) is one_view


def test_the_recipe_refits_the_part_heads_on_the_final_trunks(monkeypatch):
    torch.manual_seed(0)
    model = das.SPEC.build(TINY, 4)
    phases = []

    def fit(ctx, phase):
        names = {id(p): n for n, p in model.named_parameters()}
        phases.append((phase.name, sorted(names[id(p)] for p in phase.parameters)))
    monkeypatch.setattr(das, "fit", fit)
    das.recipe(SimpleNamespace(model=model), das.DasTrain(model=TINY))
    assert [name for name, _ in phases] == ["pretrain_parts", "pretrain_pose", "attention", "finetune", "part_heads"]
    name, trainable = phases[-1]
    assert trainable == sorted(f"parts.{part}.head.1.{t}" for part in PART_NAMES for t in ("bias", "weight"))
    finetuned = dict(phases)["finetune"]
    assert any(n.startswith("parts.full_body.backbone.") for n in finetuned)  # trunks fine-tuned before the refit
    assert not any(".head." in n for n in finetuned)
