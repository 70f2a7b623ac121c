"""Denoising and actor selection for Kinect body tracks (DESIGN.md §3; CTR-GCN / PYSKL `ntu_preproc` rules).

Kinect reports spurious bodies (reflections, furniture, a second body for one person for a few frames) and can
switch a person's ID mid-sequence. The standard recipe, applied only when a file has more than one track:
1. drop tracks of at most `min_track_frames` (11) frames;
2. a frame is noisy for a track when its x-spread exceeds `spread_ratio` (0.8) x its y-spread; drop a track when
   at least `noisy_frame_ratio` (69.754 %) of its frames are noisy;
3. rank the remaining tracks by motion (summed per-joint variance of xyz over time) and assign them to up to
   `max_actors` actors, the most moving first; a track that does not overlap an actor in time continues that actor
   (an ID switch), as in CTR-GCN's actor joining.
Frames where no kept actor is present are dropped.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from har.errors import HarError


@dataclass(frozen=True)
class Track:
    """One body track of a sample, as denoising needs it.

    frames: (F,) int frame indices (increasing); xyz: (F, V, 3) float32; extra: named (F, ...) arrays carried
    along unchanged (e.g. color_xy (F, V, 2)).
    """
    frames: np.ndarray
    xyz: np.ndarray
    extra: dict[str, np.ndarray]


@dataclass(frozen=True)
class DenoiseConfig:
    max_actors: int = 2
    min_track_frames: int = 11
    spread_ratio: float = 0.8
    noisy_frame_ratio: float = 0.69754


@dataclass(frozen=True)
class Actors:
    """Selected actors on the kept frames.

    frames: (F,) original frame indices where at least one actor is present (increasing)
    xyz: (M, F, V, 3) float32, zero where an actor is absent; present: (M, F) bool
    extra: named (M, F, ...) arrays, zero where absent; rejected: why each dropped track was dropped
    """
    frames: np.ndarray
    xyz: np.ndarray
    present: np.ndarray
    extra: dict[str, np.ndarray]
    rejected: tuple[str, ...]


class NoActorError(HarError, ValueError):
    """Every body track of a sample was rejected (or the sample had none)."""


def noisy_frame_fraction(xyz: np.ndarray, spread_ratio: float) -> float:
    """Fraction of frames whose x-spread > spread_ratio * y-spread. xyz: (F, V, 3)."""
    spread = xyz.max(axis=1) - xyz.min(axis=1)
    return float(np.mean(spread[:, 0] > spread_ratio * spread[:, 1])) if len(xyz) else 1.0


def motion(xyz: np.ndarray) -> float:
    """Summed per-joint, per-axis variance over time. xyz: (F, V, 3)."""
    return float(xyz.var(axis=0).sum()) if len(xyz) > 1 else 0.0


def filter_tracks(tracks: Sequence[Track], config: DenoiseConfig) -> tuple[list[int], list[str]]:
    """Indices of the tracks that survive denoising, and a reason for each rejected one."""
    kept = list(range(len(tracks)))
    rejected: list[str] = []
    if len(tracks) <= 1:
        return kept, rejected
    by_length = [i for i in kept if len(tracks[i].frames) > config.min_track_frames]
    rejected += [f"track {i}: {len(tracks[i].frames)} frames <= {config.min_track_frames}"
                 for i in kept if i not in by_length]
    kept = by_length
    if len(kept) <= 1:
        return kept, rejected
    by_spread = []
    for i in kept:
        fraction = noisy_frame_fraction(tracks[i].xyz, config.spread_ratio)
        if fraction >= config.noisy_frame_ratio:
            rejected.append(f"track {i}: {fraction:.0%} of frames wider than tall")
        else:
            by_spread.append(i)
    return by_spread, rejected


def assign_actors(tracks: Sequence[Track], kept: Sequence[int], max_actors: int) -> list[list[int]]:
    """Group kept tracks into at most max_actors actors, most moving first; non-overlapping tracks join."""
    order = sorted(kept, key=lambda i: (-motion(tracks[i].xyz), i))
    actors: list[list[int]] = []
    occupied: list[set[int]] = []
    for i in order:
        frames = set(tracks[i].frames.tolist())
        for actor, used in zip(actors, occupied):
            if not used & frames:
                actor.append(i)
                used |= frames
                break
        else:
            if len(actors) < max_actors:
                actors.append([i])
                occupied.append(set(frames))
    return actors


def select_actors(tracks: Sequence[Track], config: DenoiseConfig = DenoiseConfig()) -> Actors:
    """Denoise the tracks of one sample and lay the actors out densely over the frames where any is present."""
    kept, rejected = filter_tracks(tracks, config)
    if not kept:
        detail = f" ({'; '.join(rejected)})" if rejected else ""
        raise NoActorError(f"no usable body: {len(tracks)} track(s), all rejected{detail}")
    actors = assign_actors(tracks, kept, config.max_actors)
    frames = np.unique(np.concatenate([tracks[i].frames for actor in actors for i in actor]))
    position = {int(f): k for k, f in enumerate(frames)}
    first = tracks[actors[0][0]]
    num_actors, num_frames = config.max_actors, len(frames)
    xyz = np.zeros((num_actors, num_frames, *first.xyz.shape[1:]), np.float32)
    present = np.zeros((num_actors, num_frames), bool)
    extra = {k: np.zeros((num_actors, num_frames, *v.shape[1:]), v.dtype) for k, v in first.extra.items()}
    for m, actor in enumerate(actors):
        for i in actor:
            rows = np.fromiter((position[int(f)] for f in tracks[i].frames), np.int64, len(tracks[i].frames))
            xyz[m, rows] = tracks[i].xyz
            present[m, rows] = True
            for k in extra:
                extra[k][m, rows] = tracks[i].extra[k]
    dropped = [i for i in kept if all(i not in a for a in actors)]
    rejected += [f"track {i}: overlaps {config.max_actors} more active actors" for i in dropped]
    return Actors(frames=frames, xyz=xyz, present=present, extra=extra, rejected=tuple(rejected))
