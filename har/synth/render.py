"""Drawing people (and their objects) into video frames, and writing the Motion-JPEG AVI.

People are drawn from their clean camera-space joints through the same colour camera that gives the skeleton
file's colour coordinates: limbs as shaded capsules (a dark rim, a body tone and a highlight shifted towards
the light), the torso as a filled quad plus a thick spine capsule (so it keeps its width in side views), the
head as a disc with hair on the side facing away. Primitives of all people and objects are sorted by depth
and painted far to near.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from har.synth.camera import KinectCamera

SUBPIXEL_BITS = 4
SUBPIXEL = float(1 << SUBPIXEL_BITS)
# Motion JPEG written by OpenCV's own AVI encoder (CAP_OPENCV_MJPEG), not FFmpeg's: every frame is an independent
# JPEG (intra-only), the encoder's output does not depend on cv2.setNumThreads or the core count (tested), and the
# file carries no FFmpeg version string, so its bytes change only with the OpenCV release that requirements.lock
# pins. The former XVID stream came from FFmpeg's MPEG-4 encoder (inter-frame, 'Lavc<version>' in every key frame,
# 'Lavf<version>' in the container) and changed with the wheel. A lossless codec (HuffYUV, FFV1) decodes to the
# exact rendered pixels but costs 180-220 KB per 480x270 frame (about 14 GB for the default data, against about
# 0.9 GB here, 14 KB a frame), because the sensor grain and lighting flicker are incompressible without loss.
FOURCC = "MJPG"
FPS = 30.0


@dataclass(frozen=True)
class Outfit:
    """A subject's colours (BGR) and clothing cut."""
    shirt: tuple[float, float, float]
    trousers: tuple[float, float, float]
    skin: tuple[float, float, float]
    hair: tuple[float, float, float]
    shoes: tuple[float, float, float]
    long_sleeves: bool


SKIN_TONES = ((185, 205, 240), (150, 180, 225), (110, 150, 200), (80, 115, 165), (55, 80, 120))
HAIR_TONES = ((20, 20, 25), (30, 45, 70), (40, 80, 130), (140, 160, 175), (70, 110, 160))
TROUSER_TONES = ((110, 70, 40), (40, 40, 45), (120, 120, 125), (90, 140, 160), (60, 80, 60))


def sample_outfit(rng: np.random.Generator) -> Outfit:
    hsv = np.uint8([[[rng.integers(0, 180), rng.integers(20, 120), rng.integers(70, 230)]]])
    shirt = tuple(float(c) for c in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0])
    def pick(tones):
        return tuple(float(c) * rng.uniform(0.9, 1.1) for c in tones[rng.integers(0, len(tones))])

    return Outfit(shirt=shirt, trousers=pick(TROUSER_TONES), skin=pick(SKIN_TONES), hair=pick(HAIR_TONES),
                  shoes=pick(((25, 25, 25), (60, 60, 70), (200, 200, 200))), long_sleeves=bool(rng.random() < 0.6))


# --- primitives ----------------------------------------------------------------------------------------------
# A layer is (depth, ops): ops are ready-made OpenCV calls in fixed-point pixels, painted far to near.
LINE, POLY, CIRCLE = 0, 1, 2


@dataclass(frozen=True)
class Capsule:
    """A shaded stick between two pixel positions (objects use these; people are vectorised below)."""
    depth: float
    p0: np.ndarray  # (2,) pixels
    p1: np.ndarray
    radius: float  # pixels
    colour: tuple


@dataclass(frozen=True)
class Polygon:
    depth: float
    points: np.ndarray  # (K, 2) pixels, convex
    colour: tuple


def _fixed(points) -> np.ndarray:
    """Fixed-point pixel coordinates (C-contiguous int32, as cv2 polygons need)."""
    return np.ascontiguousarray(np.rint(np.asarray(points) * SUBPIXEL), dtype=np.int32)


def _scaled(colour, factor: float) -> tuple:
    return tuple(min(255.0, c * factor) for c in colour)


def _capsule_ops(p0, p1, offset_body, offset_light, widths, colours) -> list:
    """A capsule as up to three lines: anti-aliased dark rim, then body tone and highlight shifted towards the
    light (interior lines need no anti-aliasing). p0, p1, offsets: fixed-point (x, y) pairs."""
    rim, body, light = widths
    ops = [(LINE, p0, p1, colours[0], rim, cv2.LINE_AA)]
    if rim >= 3:
        ops.append((LINE, (p0[0] + offset_body[0], p0[1] + offset_body[1]),
                    (p1[0] + offset_body[0], p1[1] + offset_body[1]), colours[1], body, cv2.LINE_8))
        ops.append((LINE, (p0[0] + offset_light[0], p0[1] + offset_light[1]),
                    (p1[0] + offset_light[0], p1[1] + offset_light[1]), colours[2], light, cv2.LINE_8))
    return ops


def _tones(colour) -> tuple:
    return (_scaled(colour, 0.65), tuple(float(c) for c in colour), _scaled(colour, 1.2))


def layer(primitive, light_dir: np.ndarray) -> tuple[float, list]:
    """The (depth, ops) layer of a Capsule or Polygon."""
    if isinstance(primitive, Capsule):
        r = primitive.radius
        widths = (max(1, int(round(2 * r))), max(1, int(round(1.3 * r))), max(1, int(round(0.5 * r))))
        ends = _fixed([primitive.p0, primitive.p1]).tolist()
        offsets = _fixed([0.25 * r * light_dir, 0.45 * r * light_dir]).tolist()
        return primitive.depth, _capsule_ops(tuple(ends[0]), tuple(ends[1]), offsets[0], offsets[1], widths,
                                             _tones(primitive.colour))
    if isinstance(primitive, Polygon):
        return primitive.depth, [(POLY, _fixed(primitive.points), primitive.colour)]
    raise TypeError(f"cannot draw {type(primitive).__name__}")


def paint(image: np.ndarray, ops: list) -> None:
    """Run drawing ops on a BGR uint8 image in place."""
    for op in ops:
        if op[0] == LINE:
            cv2.line(image, op[1], op[2], op[3], op[4], op[5], SUBPIXEL_BITS)
        elif op[0] == POLY:
            cv2.fillConvexPoly(image, op[1], op[2], cv2.LINE_AA, SUBPIXEL_BITS)
        else:
            cv2.circle(image, op[1], op[2], op[3], -1, cv2.LINE_AA, SUBPIXEL_BITS)


# --- people --------------------------------------------------------------------------------------------------
# (joint a, joint b, radius in metres at build 1, outfit part) for each capsule (0-based joints).
LIMBS = (
    (0, 20, 0.12, "shirt"), (12, 16, 0.085, "trousers"), (2, 20, 0.05, "skin"),
    (4, 5, 0.048, "shirt"), (8, 9, 0.048, "shirt"), (5, 6, 0.04, "sleeve"), (9, 10, 0.04, "sleeve"),
    (6, 7, 0.036, "skin"), (10, 11, 0.036, "skin"), (7, 21, 0.026, "skin"), (11, 23, 0.026, "skin"),
    (7, 22, 0.016, "skin"), (11, 24, 0.016, "skin"),
    (12, 13, 0.072, "trousers"), (16, 17, 0.072, "trousers"), (13, 14, 0.056, "trousers"),
    (17, 18, 0.056, "trousers"), (14, 15, 0.045, "shoes"), (18, 19, 0.045, "shoes"),
)
LIMB_A = np.array([limb[0] for limb in LIMBS])
LIMB_B = np.array([limb[1] for limb in LIMBS])
LIMB_RADIUS = np.array([limb[2] for limb in LIMBS])


def person_layers(joints: np.ndarray, camera: KinectCamera, outfit: Outfit, build: float, height: float,
                  light_dir: np.ndarray) -> list[list[tuple[float, list]]]:
    """Per frame, the layers of one person. joints: (F, 25, 3) clean camera-space positions.

    Everything geometric is computed for all frames at once; the per-frame loop only assembles op tuples."""
    pixels = camera.project_color(joints)
    focal = camera.color_focal[0]
    depth = joints[..., 2]
    parts = {"shirt": outfit.shirt, "trousers": outfit.trousers, "skin": outfit.skin, "shoes": outfit.shoes,
             "sleeve": outfit.shirt if outfit.long_sleeves else outfit.skin}
    tones = [_tones(parts[limb[3]]) for limb in LIMBS]
    limb_depth = 0.5 * (depth[:, LIMB_A] + depth[:, LIMB_B])  # (F, L)
    radius = focal * LIMB_RADIUS * build / limb_depth
    widths = np.stack([np.rint(2 * radius), np.rint(1.3 * radius), np.rint(0.5 * radius)], -1)
    widths = np.maximum(widths, 1).astype(int).tolist()
    ends_a, ends_b = _fixed(pixels[:, LIMB_A]).tolist(), _fixed(pixels[:, LIMB_B]).tolist()
    offset_body = _fixed(0.25 * radius[..., None] * light_dir).tolist()
    offset_light = _fixed(0.45 * radius[..., None] * light_dir).tolist()
    torso_depth, torso_quad, torso_colour = _torso(joints, pixels, outfit)
    heads = _heads(joints, pixels, camera, outfit, height)
    frames = []
    for t in range(len(joints)):
        layers = [(float(limb_depth[t, i]),
                   _capsule_ops(tuple(ends_a[t][i]), tuple(ends_b[t][i]), offset_body[t][i], offset_light[t][i],
                                widths[t][i], tones[i])) for i in range(len(LIMBS))]
        layers.append((float(torso_depth[t]), [(POLY, torso_quad[t], torso_colour[t])]))
        layers.append(heads[t])
        frames.append(layers)
    return frames


def _facing(joints: np.ndarray) -> np.ndarray:
    """(F, 3) unit vectors the chest faces (camera space): shoulder line x spine."""
    forward = np.cross(joints[:, 8] - joints[:, 4], joints[:, 20] - joints[:, 0])
    return forward / np.maximum(np.linalg.norm(forward, axis=-1, keepdims=True), 1e-9)


def _torso(joints, pixels, outfit):
    """Depths (F,), fixed-point quads (F, 4, 2) and colours of the chest-and-belly quad, shaded by how squarely
    it faces the camera."""
    centre = joints[:, [0, 20]].mean(axis=1)
    view = centre / np.linalg.norm(centre, axis=-1, keepdims=True)
    shade = 0.7 + 0.35 * np.abs(np.sum(_facing(joints) * view, axis=-1))
    quad = pixels[:, [4, 8, 16, 12]]
    middle = quad.mean(axis=1, keepdims=True)
    quads = _fixed(middle + 1.12 * (quad - middle))
    return centre[:, 2], list(quads), [_scaled(outfit.shirt, float(f)) for f in shade]


def _heads(joints, pixels, camera, outfit, height) -> list[tuple[float, list]]:
    """Per frame the head layer: a face inside a ring of hair when facing the camera, else hair over the back of
    the head, shifted to the side the face turns to."""
    focal = camera.color_focal[0]
    head_depth = joints[:, 3, 2]
    radius = focal * 0.105 * (height / 1.75) / head_depth
    facing = _facing(joints)
    lateral = (camera.project_color(joints[:, 3] + 0.05 * facing) - pixels[:, 3]) / (
        focal * 0.05 / head_depth)[:, None]
    towards_camera = facing[:, 2] < 0
    offset = 0.22 * radius[:, None] * lateral * np.where(towards_camera, 1.0, -1.0)[:, None]
    centre = _fixed(pixels[:, 3]).tolist()
    inner = _fixed(pixels[:, 3] + offset).tolist()
    outer_r, inner_r = _fixed(radius).tolist(), _fixed(0.82 * radius).tolist()
    skin, hair = tuple(outfit.skin), tuple(outfit.hair)
    out = []
    for t in range(len(joints)):
        first, second = (hair, skin) if towards_camera[t] else (skin, hair)
        out.append((float(head_depth[t]), [(CIRCLE, tuple(centre[t]), outer_r[t], first),
                                           (CIRCLE, tuple(inner[t]), inner_r[t], second)]))
    return out


# --- frames and video ----------------------------------------------------------------------------------------
def compose(background: np.ndarray, layers: list[tuple[float, list]]) -> np.ndarray:
    """A frame: the background with the layers painted far to near."""
    frame = background.copy()
    for _, ops in sorted(layers, key=lambda item: -item[0]):
        paint(frame, ops)
    return frame


def write_avi(path, frames) -> int:
    """Write BGR uint8 frames (an iterable of equal-size (H, W, 3) arrays, even width and height) as a Motion-JPEG
    AVI at 30 fps through OpenCV's own MJPEG writer; returns the number of frames written."""
    writer = None
    count = 0
    try:
        for frame in frames:
            if writer is None:
                height, width = frame.shape[:2]
                writer = cv2.VideoWriter(str(path), cv2.CAP_OPENCV_MJPEG, cv2.VideoWriter_fourcc(*FOURCC), FPS,
                                         (width, height))
                if not writer.isOpened():
                    raise RuntimeError(f"{path}: OpenCV cannot open an {FOURCC} AVI writer")
            writer.write(frame)
            count += 1
    finally:
        if writer is not None:
            writer.release()
    return count
