"""Procedural rooms (one per setup) seen through each camera, and per-sample lighting.

The background is ray-cast through the same colour camera that projects the skeleton: a box-shaped room with
a tiled or planked floor, painted walls with value-noise texture, a skirting board and a few wall panels
(posters, doors, windows). Colours are muted so the saturated hand-held objects stand out.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.ndimage import map_coordinates

from har.synth.camera import KinectCamera

NOISE_GRID = 24


@dataclass(frozen=True)
class Room:
    half_x: float
    half_z: float
    ceiling: float
    walls: np.ndarray  # (4, 3) BGR base colours of the walls at x = -hx, +hx, z = -hz, +hz
    floor: np.ndarray  # (3,) BGR
    tile: float  # floor tile / plank size (m)
    planks: bool
    panels: np.ndarray  # (P, 6): wall index, centre along the wall, bottom, width, height, brightness factor
    panel_colours: np.ndarray  # (P, 3) BGR
    noise: np.ndarray  # (5, NOISE_GRID, NOISE_GRID) value-noise grids: 4 walls + floor


def _muted(rng: np.random.Generator, value=(0.45, 0.85), saturation=(0.05, 0.35)) -> np.ndarray:
    hsv = np.uint8([[[rng.integers(0, 180), 255 * rng.uniform(*saturation), 255 * rng.uniform(*value)]]])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0].astype(np.float64)


def sample_room(rng: np.random.Generator) -> Room:
    walls = np.stack([_muted(rng) for _ in range(4)])
    floor = _muted(rng, value=(0.3, 0.65), saturation=(0.05, 0.4))
    count = int(rng.integers(3, 8))
    panels = np.stack([rng.integers(0, 4, count), rng.uniform(-3.0, 3.0, count), rng.uniform(0.0, 1.2, count),
                       rng.uniform(0.4, 1.4, count), rng.uniform(0.4, 1.6, count), rng.uniform(0.6, 1.3, count)],
                      axis=1)
    colours = np.stack([_muted(rng, value=(0.25, 0.9), saturation=(0.1, 0.5)) for _ in range(count)])
    return Room(half_x=float(rng.uniform(3.6, 5.0)), half_z=float(rng.uniform(3.6, 5.0)),
                ceiling=float(rng.uniform(2.6, 3.2)), walls=walls, floor=floor, tile=float(rng.uniform(0.35, 0.8)),
                planks=bool(rng.random() < 0.4), panels=panels, panel_colours=colours,
                noise=rng.standard_normal((5, NOISE_GRID, NOISE_GRID)))


def _value_noise(grid: np.ndarray, u: np.ndarray, v: np.ndarray, scale: float) -> np.ndarray:
    """Bilinear value noise (unit-ish std) at surface coordinates u, v (metres), features ~scale metres."""
    return map_coordinates(grid, [u / scale, v / scale], order=1, mode="grid-wrap")


def render_background(room: Room, camera: KinectCamera, rng: np.random.Generator, grain: float) -> np.ndarray:
    """(H, W, 3) uint8 BGR view of the empty room from camera."""
    origin, rays = camera.color_rays()
    big = np.float64(1e9)
    with np.errstate(divide="ignore", invalid="ignore"):
        hits = np.stack([
            np.where(rays[..., 1] < 0, -origin[1] / rays[..., 1], big),  # floor
            np.where(rays[..., 1] > 0, (room.ceiling - origin[1]) / rays[..., 1], big),
            np.where(rays[..., 0] < 0, (-room.half_x - origin[0]) / rays[..., 0], big),
            np.where(rays[..., 0] > 0, (room.half_x - origin[0]) / rays[..., 0], big),
            np.where(rays[..., 2] < 0, (-room.half_z - origin[2]) / rays[..., 2], big),
            np.where(rays[..., 2] > 0, (room.half_z - origin[2]) / rays[..., 2], big),
        ])
    surface = np.argmin(hits, axis=0)
    t = np.take_along_axis(hits, surface[None], axis=0)[0]
    point = origin + rays * t[..., None]
    image = np.zeros(rays.shape)
    floor = surface == 0
    image[floor] = _floor_colour(room, point[floor])
    image[surface == 1] = 0.9 * room.walls.mean(axis=0) + 25.0
    for wall in range(4):
        mask = surface == wall + 2
        image[mask] = _wall_colour(room, wall, point[mask])
    image *= (1.0 / (1.0 + 0.04 * np.clip(t, 0, 20)))[..., None] * 1.1  # distant surfaces get less light
    image = cv2.GaussianBlur(image, (0, 0), 0.6)
    image += grain * rng.standard_normal(image.shape)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def _floor_colour(room: Room, point: np.ndarray) -> np.ndarray:
    x, z = point[:, 0], point[:, 2]
    texture = 1.0 + 0.06 * _value_noise(room.noise[4], x, z, 0.3)
    if room.planks:
        plank = np.floor(z / (0.4 * room.tile))
        texture *= 1.0 + 0.07 * np.sin(plank * 12.9898) ** 2
        seam = np.abs((z / (0.4 * room.tile)) % 1.0 - 0.5) > 0.47
    else:
        cell = (np.floor(x / room.tile) + np.floor(z / room.tile)) % 2
        texture *= 1.0 + 0.06 * cell
        seam = (np.abs((x / room.tile) % 1.0 - 0.5) > 0.48) | (np.abs((z / room.tile) % 1.0 - 0.5) > 0.48)
    texture *= np.where(seam, 0.75, 1.0)
    return texture[:, None] * room.floor


def _wall_colour(room: Room, wall: int, point: np.ndarray) -> np.ndarray:
    along = point[:, 2] if wall < 2 else point[:, 0]
    height = point[:, 1]
    colour = room.walls[wall] * (1.0 + 0.05 * _value_noise(room.noise[wall], along, height, 0.5))[:, None]
    for panel, panel_colour in zip(room.panels, room.panel_colours):
        if int(panel[0]) != wall:
            continue
        inside = (np.abs(along - panel[1]) < panel[3] / 2) & (height > panel[2]) & (height < panel[2] + panel[4])
        colour[inside] = panel_colour * panel[5]
    colour[height < 0.1] *= 0.6  # skirting board
    return colour


# --- lighting ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Lighting:
    """Per-sample light: overall gain, colour tint, a slow sinusoidal drift and the key light's direction."""
    gain: float
    tint: np.ndarray  # (3,) BGR multipliers
    drift: float  # relative amplitude
    period: float  # seconds
    phase: float
    light_dir: np.ndarray  # (2,) image-plane unit vector towards the light (for limb highlights)


def sample_lighting(rng: np.random.Generator) -> Lighting:
    angle = rng.uniform(-2.2, -0.9)  # from above, left or right
    return Lighting(gain=float(rng.uniform(0.8, 1.15)), tint=rng.normal(1.0, 0.04, size=3),
                    drift=float(rng.uniform(0.0, 0.06)), period=float(rng.uniform(2.0, 6.0)),
                    phase=float(rng.uniform(0, 2 * np.pi)), light_dir=np.array([np.cos(angle), np.sin(angle)]))


def frame_gains(lighting: Lighting, frames: int, fps: float = 30.0) -> np.ndarray:
    """(frames, 3) per-channel BGR gains."""
    t = np.arange(frames) / fps
    level = lighting.gain * (1.0 + lighting.drift * np.sin(2 * np.pi * t / lighting.period + lighting.phase))
    return level[:, None] * lighting.tint[None, :]


def apply_gain(frame: np.ndarray, gains: np.ndarray) -> np.ndarray:
    """frame (H, W, 3) uint8 scaled per channel (saturating)."""
    return cv2.transform(frame, np.diag(gains).astype(np.float64))
