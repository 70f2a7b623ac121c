"""Hand-held objects: the only thing that tells apart classes sharing a motion family.

Each object is built in 3D from the hands' clean joints (camera space) and projected with the colour camera,
so it follows the hands and is foreshortened like the body. Colours are saturated and distinct from the muted
clothing and rooms (red cup, cyan toothbrush, blue book, yellow notepad with a green pen, orange tablet, black
keyboard with light keys, magenta phone) and sizes are multiplied by `scale` to stay visible in small crops.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from har.synth.camera import KinectCamera
from har.synth.render import Capsule, Polygon

HANDS = ((7, 21, 22), (11, 23, 24))  # (hand, tip, thumb) per side
RED, WHITE, CYAN = (30, 30, 220), (235, 235, 235), (225, 205, 0)
BLUE, PAGE_INK, YELLOW, GREEN = (165, 65, 15), (120, 120, 120), (40, 215, 250), (40, 170, 20)
ORANGE, SCREEN, BLACK, KEY, MAGENTA = (0, 125, 250), (250, 230, 170), (30, 30, 32), (205, 205, 205), (200, 40, 210)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-9)


def _hand_frame(joints: np.ndarray, side: int):
    """Hand joint (3,), finger direction, thumb direction (orthogonal to the fingers)."""
    hand, tip, thumb = (joints[i] for i in HANDS[side])
    fingers = _unit(tip - hand)
    across = thumb - hand
    return hand, fingers, _unit(across - np.dot(across, fingers) * fingers)


def _stick(camera: KinectCamera, p0, p1, radius: float, colour, nudge: float = 0.0) -> Capsule:
    pixels = camera.project_color(np.stack([p0, p1]))
    depth = 0.5 * (p0[2] + p1[2])
    return Capsule(float(depth - nudge), pixels[0], pixels[1], camera.color_focal[0] * radius / depth, colour)


def _quad(camera: KinectCamera, centre, axis_u, axis_v, size_u: float, size_v: float, colour,
          nudge: float = 0.0) -> Polygon:
    corners = np.stack([centre + su * size_u / 2 * axis_u + sv * size_v / 2 * axis_v
                        for su, sv in ((-1, -1), (1, -1), (1, 1), (-1, 1))])
    return Polygon(float(centre[2] - nudge), camera.project_color(corners), colour)


def _plane_towards(centre, width_axis, viewer):
    """Axes (width, height, normal) of a plane through centre containing width_axis, its normal towards viewer."""
    width_axis = _unit(width_axis)
    look = viewer - centre
    normal = _unit(look - np.dot(look, width_axis) * width_axis)
    return width_axis, np.cross(normal, width_axis), normal


def _faces_camera(centre, normal) -> bool:
    return float(np.dot(normal, -centre)) > 0  # the camera is at the origin of camera space


def cup(joints, camera, dominant, scale):
    hand, fingers, thumb = _hand_frame(joints, dominant)
    centre = hand + 0.04 * fingers
    half = 0.065 * scale * thumb
    return [_stick(camera, centre - half, centre + half, 0.042 * scale, RED),
            _stick(camera, centre + half, centre + half, 0.03 * scale, WHITE, nudge=1e-3)]


def toothbrush(joints, camera, dominant, scale):
    hand, _, thumb = _hand_frame(joints, dominant)
    base, end = hand - 0.05 * scale * thumb, hand + 0.17 * scale * thumb
    return [_stick(camera, base, end, 0.017 * scale, CYAN),
            _stick(camera, end - 0.045 * scale * thumb, end, 0.024 * scale, WHITE, nudge=1e-3)]


def book(joints, camera, dominant, scale):
    """An open book held in both hands: white printed pages towards the reader, a blue cover outside."""
    left, right = joints[HANDS[0][0]], joints[HANDS[1][0]]
    centre = 0.5 * (left + right)
    width, height, normal = _plane_towards(centre, right - left, joints[3])
    size_u, size_v, thick = 0.30 * scale, 0.21 * scale, 0.03 * scale
    parts = _box(camera, centre, (width, height, normal), (size_u, size_v, thick), WHITE, BLUE, BLUE)
    pages = centre + normal * thick / 2
    if _faces_camera(pages, normal):
        for page in (-1, 1):
            for row in np.linspace(-0.3, 0.3, 4):
                mid = pages + page * 0.25 * size_u * width + row * size_v * height
                parts.append(_stick(camera, mid - 0.15 * size_u * width, mid + 0.15 * size_u * width, 0.004,
                                    PAGE_INK, nudge=1e-3))
        parts.append(_stick(camera, pages - height * size_v / 2, pages + height * size_v / 2, 0.004, PAGE_INK,
                            nudge=1e-3))
    return parts


def notepad_and_pen(joints, camera, dominant, scale):
    held, writing = joints[HANDS[1 - dominant][0]], joints[HANDS[dominant][0]]
    centre = held + 0.07 * scale * _unit(writing - held)
    width, height, normal = _plane_towards(centre, writing - held, joints[3])
    parts = [_quad(camera, centre, width, height, 0.2 * scale, 0.15 * scale, YELLOW)]
    if _faces_camera(centre, normal):
        for row in np.linspace(-0.3, 0.3, 3):
            mid = centre + row * 0.15 * scale * height
            parts.append(_stick(camera, mid - 0.08 * scale * width, mid + 0.08 * scale * width, 0.003,
                                (200, 150, 120), nudge=1e-3))
    hand, fingers, _ = _hand_frame(joints, dominant)
    towards_pad = _unit(0.5 * fingers + 0.5 * _unit(centre - hand))
    parts.append(_stick(camera, hand - 0.02 * scale * towards_pad, hand + 0.13 * scale * towards_pad,
                        0.012 * scale, GREEN, nudge=2e-3))
    return parts


def _box(camera: KinectCamera, centre, axes, sizes, front, back, side, nudge: float = 0.0) -> list:
    """The camera-facing faces of a box (a device, a book): axes (u, v, n) with n the front normal, sizes along
    them, colours of the front (+n), back (-n) and the four sides. Only faces turned to the camera are drawn,
    and a convex box's visible faces do not overlap, so their order does not matter."""
    parts = []
    for k, (axis, size) in enumerate(zip(axes, sizes)):
        others = [(axes[i], sizes[i]) for i in range(3) if i != k]
        for sign in (1.0, -1.0):
            face = centre + sign * axis * size / 2
            if not _faces_camera(face, sign * axis):
                continue
            colour = (front if sign > 0 else back) if k == 2 else side
            parts.append(_quad(camera, face, others[0][0], others[1][0], others[0][1], others[1][1], colour,
                               nudge=nudge))
    return parts


def _slate(joints, camera, centre, long_axis, size_u, size_v, case_colour, scale):
    """A flat device (tablet, phone): screen towards the face, case (back and rim) in a loud colour."""
    width, height, normal = _plane_towards(centre, long_axis, joints[3])
    parts = _box(camera, centre, (width, height, normal), (size_u, size_v, 0.02 * scale), BLACK, case_colour,
                 case_colour)
    if _faces_camera(centre + normal * 0.01 * scale, normal):
        screen = centre + normal * 0.0101 * scale
        parts.append(_quad(camera, screen, width, height, 0.85 * size_u, 0.8 * size_v, SCREEN, nudge=1e-3))
    return parts


def tablet(joints, camera, dominant, scale):
    left, right = joints[HANDS[0][0]], joints[HANDS[1][0]]
    return _slate(joints, camera, 0.5 * (left + right), right - left, 0.25 * scale, 0.17 * scale, ORANGE, scale)


def phone(joints, camera, dominant, scale):
    hand, fingers, thumb = _hand_frame(joints, dominant)
    return _slate(joints, camera, hand + 0.04 * fingers, thumb, 0.15 * scale, 0.075 * scale, MAGENTA, scale)


def keyboard(joints, camera, dominant, scale):
    """A keyboard under both hands: dark top with rows of light keys and a front edge (seen from the side)."""
    left, right = joints[HANDS[0][0]], joints[HANDS[1][0]]
    up = _unit(joints[20] - joints[0])
    width = _unit((right - left) - np.dot(right - left, up) * up)
    depth_axis = np.cross(up, width)
    centre = 0.5 * (left + right) - 0.035 * up
    size_u, size_v, thick = 0.44 * scale, 0.15 * scale, 0.035 * scale
    if not _faces_camera(centre, depth_axis):
        depth_axis = -depth_axis
    edge = centre + depth_axis * size_v / 2 - up * thick / 2
    parts = [_quad(camera, centre, width, depth_axis, size_u, size_v, BLACK),
             _quad(camera, edge, width, up, size_u, thick, (55, 55, 58), nudge=5e-4)]
    if _faces_camera(centre, up):
        for row in np.linspace(-0.3, 0.3, 3):
            for key in np.linspace(-0.42, 0.42, 8):
                spot = centre + row * size_v * depth_axis + key * size_u * width
                parts.append(_stick(camera, spot - 0.02 * scale * width, spot + 0.02 * scale * width, 0.006 * scale,
                                    KEY, nudge=1e-3))
    return parts


PROPS: dict[str, Callable] = {"cup": cup, "toothbrush": toothbrush, "book": book,
                              "notepad_and_pen": notepad_and_pen, "tablet": tablet, "phone": phone,
                              "keyboard": keyboard}


def prop_primitives(prop: str, joints: np.ndarray, camera: KinectCamera, dominant: int, scale: float) -> list:
    """Primitives of one object in one frame. joints: (25, 3) clean camera-space joints of its holder."""
    if prop not in PROPS:
        raise ValueError(f"unknown object {prop!r} (known: {', '.join(sorted(PROPS))})")
    return PROPS[prop](joints, camera, dominant, scale)
