"""Per-sample conversions from stored uint8 artifacts to model inputs, with optional training augmentation, and
what the stores say about how they were built (StoreFacts, read once at stage start).

The conversion functions are pure: arrays in, arrays out, randomness from the numpy Generator passed in
(None = evaluation, no augmentation).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from har.config import ConfigError
from har.transforms.heatmap import gaussian_heatmaps
from har.transforms.sample import uniform_sample_indices

# Kinetics statistics, the usual normalisation of X3D / ResNet3D / I3D inputs (RGB order, [0, 1] scale).
RGB_MEAN = np.array([0.45, 0.45, 0.45], np.float32)
RGB_STD = np.array([0.225, 0.225, 0.225], np.float32)


@dataclass(frozen=True)
class PhotometricAugment:
    brightness: float = 0.15  # multiply by U(1 - b, 1 + b)
    contrast: float = 0.15  # scale around the mean by U(1 - c, 1 + c)


def resize_clip(clip: np.ndarray, size: int) -> np.ndarray:
    """(T, H, W, 3) uint8 clip -> (T, size, size, 3): one stored clip size serves models of several input sizes
    (AMFI-Net reads 112x112, the CPU EPAM-Net 64x64). Area interpolation when shrinking, linear when enlarging."""
    if clip.shape[1] == size and clip.shape[2] == size:
        return clip
    import cv2
    method = cv2.INTER_AREA if size < clip.shape[1] else cv2.INTER_LINEAR
    return np.stack([cv2.resize(np.ascontiguousarray(frame), (size, size), interpolation=method) for frame in clip])


def to_unit(stored: np.ndarray) -> np.ndarray:
    """A stored uint8 artifact (RGB images (..., 3), heatmaps quantised to round(255 * h)) -> float32 in [0, 1],
    same shape: value / 255. Raises ValueError for another dtype (a store written by other code)."""
    if stored.dtype != np.uint8:
        raise ValueError(f"expected a uint8 array (an RGB or heatmap store), got dtype {stored.dtype}")
    return stored.astype(np.float32) / np.float32(255.0)


def photometric(images: np.ndarray, rng: np.random.Generator | None, augment: PhotometricAugment) -> np.ndarray:
    """Random brightness and contrast of float images in [0, 1] (unchanged when rng is None)."""
    if rng is None:
        return images
    gain = rng.uniform(1 - augment.brightness, 1 + augment.brightness)
    contrast = rng.uniform(1 - augment.contrast, 1 + augment.contrast)
    mean = images.mean()
    return np.clip((images - mean) * contrast + mean * gain, 0.0, 1.0).astype(np.float32)


def standardize(images: np.ndarray) -> np.ndarray:
    """(..., 3) float in [0, 1] -> mean/std normalised (Kinetics statistics)."""
    return ((images - RGB_MEAN) / RGB_STD).astype(np.float32)


def min_max(images: np.ndarray) -> np.ndarray:
    """Per-sample min-max normalisation to [0, 1] (AMFI-Net's input scaling)."""
    low, high = float(images.min()), float(images.max())
    return ((images - low) / (high - low if high > low else 1.0)).astype(np.float32)


def channels_first_clip(clip: np.ndarray) -> np.ndarray:
    """(T, H, W, 3) -> (3, T, H, W)."""
    return np.ascontiguousarray(clip.transpose(3, 0, 1, 2))


class StoreFacts:
    """The attrs of the feature stores a stage reads (their producers record how they were built), checked against
    the stage's own settings before anything runs: a disagreement raises ConfigError naming both keys."""

    def __init__(self, stores: Mapping[str, Any]):
        """stores: store name ('heatmaps', 'rgb_clips', ...) -> opened zarr group (anything with `.attrs`)."""
        self.attrs = {name: dict(group.attrs) for name, group in stores.items()}

    def key(self, store: str, producer_key: str) -> str:
        """`producer_key` ("video.clip_frames", "poses.frames") as the params key of the variant `store` was built
        from ("video.variants.<name>.clip_frames", "poses.variants.<view>.frames"), as its attrs record it."""
        section, _, rest = producer_key.partition(".")
        record = self.attrs.get(store, {}).get("params") or {}
        variant = record.get("variant") if section != "poses" else (record.get("poses") or {}).get("variant")
        if not rest or not isinstance(variant, str) or section not in ("skeletons", "heatmaps", "video", "poses"):
            return producer_key
        return f"{section}.variants.{variant}.{rest}"

    def get(self, store: str, attr: str, producer_key: str):
        """Attr `attr` of `store` (the value its producer's `producer_key` had)."""
        producer_key = self.key(store, producer_key)
        if store not in self.attrs:
            raise ConfigError(f"{store}.zarr is not among the stores this stage reads ({sorted(self.attrs)})")
        if attr not in self.attrs[store]:
            raise ConfigError(f"{store}.zarr does not record {producer_key} (attr {attr!r}): it was built by an "
                              f"older version; rebuild it (dvc repro)")
        return self.attrs[store][attr]

    def require(self, key: str, value, store: str, attr: str, producer_key: str, at_most: bool = False) -> None:
        """`key`=`value` (this stage's setting) must equal (or, with at_most, not exceed) what `store` was built
        with, the value of its producer's `producer_key`."""
        stored = self.get(store, attr, producer_key)
        if value > stored if at_most else value != stored:
            relation = "exceeds what" if at_most else "but"
            raise ConfigError(f"{key}={value} {relation} {store}.zarr was built with "
                              f"{self.key(store, producer_key)}={stored}: "
                              f"change one of the two keys so they agree, then rerun (dvc repro)")

    def require_same(self, attr: str, producer_key: str, first: str, second: str) -> None:
        """Two stores must have been built with the same value of their producers' shared `producer_key`."""
        a, b = self.get(first, attr, producer_key), self.get(second, attr, producer_key)
        if a != b:
            raise ConfigError(f"{first}.zarr was built with {self.key(first, producer_key)}={a} but {second}.zarr "
                              f"with {self.key(second, producer_key)}={b}: rebuild both from the same params "
                              f"(dvc repro)")


@dataclass(frozen=True)
class HeatmapRendering:
    """How heatmaps.zarr drew its heatmaps (its producer's heatmaps.sigma and heatmaps.limbs), read from the
    store's attrs at stage start, so training-time heatmaps are drawn exactly as the stored ones."""
    sigma: float
    limbs: bool

    @classmethod
    def of_store(cls, facts: StoreFacts, store: str = "heatmaps") -> HeatmapRendering:
        return cls(sigma=float(facts.get(store, "sigma", "heatmaps.sigma")),
                   limbs=bool(facts.get(store, "limbs", "heatmaps.limbs")))


def render_heatmap_frames(arrays: dict, index: np.ndarray, rendering: HeatmapRendering) -> np.ndarray:
    """(K, T, H, W) uint8 heatmaps of kept frames `index` of one heatmaps.zarr sample, drawn from its stored grid
    keypoints with the store's own rendering (the heatmaps stage draws its stored heatmaps the same way)."""
    count = int(arrays["num_frames"])
    keypoints = arrays["keypoints"][:, :count][:, index]
    scores = arrays["scores"][:, :count][:, index] if "scores" in arrays else None
    size = arrays["heatmaps"].shape[-2:]
    return gaussian_heatmaps(keypoints, scores, tuple(size), rendering.sigma, with_limbs=rendering.limbs,
                             dtype=np.uint8)


def pose_heatmaps(arrays: dict, rng: np.random.Generator | None, frames: int,
                  rendering: HeatmapRendering | None) -> np.ndarray:
    """(K, T, H, W) float32 heatmaps in [0, 1] of one heatmaps.zarr sample.

    Evaluation uses the stored fixed-index heatmaps; training draws one random frame per bin from all kept frames
    (PoseC3D's UniformSampleFrames) and renders them from the stored grid keypoints with `rendering`, the store's
    own sigma and limbs (HeatmapRendering.of_store).
    """
    if rng is None:
        return to_unit(arrays["heatmaps"])
    if rendering is None:
        raise ValueError("training-time heatmaps need the heatmaps store's rendering (HeatmapRendering.of_store): "
                         "bind the training config to its stores first (ModelSpec.bind_stores)")
    index = uniform_sample_indices(int(arrays["num_frames"]), frames, rng)
    return to_unit(render_heatmap_frames(arrays, index, rendering))


def rotate_flip_scale(clip: np.ndarray, rng: np.random.Generator | None, rotate: bool, flip: bool,
                      scale: float) -> np.ndarray:
    """AMFI-Net's training augmentation on a (T, H, W, 3) clip: rotation by a multiple of 90 degrees, horizontal
    and vertical flips, and a random zoom (centre crop of 1/U(1, 1+scale) of the side, resized back)."""
    if rng is None:
        return clip
    if rotate:
        clip = np.rot90(clip, k=int(rng.integers(0, 4)), axes=(1, 2))
    if flip and rng.random() < 0.5:
        clip = clip[:, :, ::-1]
    if flip and rng.random() < 0.5:
        clip = clip[:, ::-1]
    if scale > 0:
        import cv2
        side = clip.shape[1]
        keep = max(2, int(round(side / rng.uniform(1.0, 1.0 + scale))))
        y, x = (int(rng.integers(0, side - keep + 1)) for _ in range(2))
        clip = np.stack([cv2.resize(np.ascontiguousarray(f[y:y + keep, x:x + keep]), (side, side),
                                    interpolation=cv2.INTER_LINEAR) for f in clip])
    return np.ascontiguousarray(clip)
