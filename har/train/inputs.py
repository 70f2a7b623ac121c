"""Per-sample conversions from stored uint8 artifacts to model inputs, with optional training augmentation.

All functions are pure: arrays in, arrays out, randomness from the numpy Generator passed in (None = evaluation,
no augmentation).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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


def to_unit(images: np.ndarray) -> np.ndarray:
    """uint8 (..., 3) -> float32 in [0, 1]."""
    return images.astype(np.float32) / 255.0


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


def pose_heatmaps(arrays: dict, rng: np.random.Generator | None, frames: int, sigma: float,
                  limbs: bool) -> np.ndarray:
    """(K, T, H, W) float32 heatmaps in [0, 1] of one heatmaps.zarr sample.

    Evaluation uses the stored fixed-index heatmaps; training draws one random frame per bin from all kept frames
    (PoseC3D's UniformSampleFrames) and renders them from the stored grid keypoints.
    """
    if rng is None:
        return arrays["heatmaps"].astype(np.float32) / 255.0
    count = int(arrays["num_frames"])
    index = uniform_sample_indices(count, frames, rng)
    keypoints = arrays["keypoints"][:, :count][:, index]
    scores = arrays["scores"][:, :count][:, index] if "scores" in arrays else None
    size = arrays["heatmaps"].shape[-2:]
    maps = gaussian_heatmaps(keypoints, scores, tuple(size), sigma, with_limbs=limbs, dtype=np.uint8)
    return maps.astype(np.float32) / 255.0


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
