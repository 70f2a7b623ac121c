"""Kinect v2 camera model: placement of the three NTU cameras, camera space, colour and depth projections.

World frame: y up, the floor is y = 0, the performance happens around the origin. Kinect camera space (what
.skeleton files hold): x to the sensor's left, y up, z away from the sensor, metres; it is the depth camera's.
The colour camera sits a few centimetres along x from the depth camera (Kinect v2's baseline), so
    colour pixel = (cx + fx (x + b) / z, cy - fy y / z),   depth pixel = (dcx + dfx x / z, dcy - dfy y / z).
Intrinsics were fitted on the real NTU samples (1920x1080 colour: f ~ 1050; 512x424 depth: f ~ 366) and scale
with the rendered video size, so colour coordinates always live in the pixel space of the rendered video.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NATIVE_COLOR_SIZE = (1920, 1080)
COLOR_FOCAL = 1050.0  # pixels at 1920x1080
COLOR_BASELINE = 0.052  # metres along camera x from the depth camera to the colour camera
DEPTH_SIZE = (512, 424)
DEPTH_FOCAL, DEPTH_CX, DEPTH_CY = 366.2, 256.3, 208.5

# NTU: three cameras at the same height, -45, 0 and +45 degrees; camera 1 (the middle one) sees the 45-degree
# views, cameras 2 and 3 the front and side views, because the subject faces camera 2 in replication 1 and
# camera 3 in replication 2.
CAMERA_AZIMUTH_DEG = {1: 0.0, 2: 45.0, 3: -45.0}
FACED_CAMERA = {1: 2, 2: 3}  # replication -> the camera the subject faces


@dataclass(frozen=True)
class KinectCamera:
    """A placed Kinect: world -> camera space rotation (rows are the camera axes in world) and position."""
    rotation: np.ndarray  # (3, 3)
    position: np.ndarray  # (3,) world
    width: int  # rendered colour frame size
    height: int

    @property
    def color_focal(self) -> tuple[float, float]:
        return (COLOR_FOCAL * self.width / NATIVE_COLOR_SIZE[0], COLOR_FOCAL * self.height / NATIVE_COLOR_SIZE[1])

    @property
    def color_center(self) -> tuple[float, float]:
        return (self.width / 2.0, self.height / 2.0)

    def to_camera(self, world: np.ndarray) -> np.ndarray:
        """(..., 3) world points -> Kinect camera space."""
        return (np.asarray(world) - self.position) @ self.rotation.T

    def project_color(self, xyz: np.ndarray) -> np.ndarray:
        """(..., 3) camera-space points -> (..., 2) colour-frame pixels (float, sub-pixel)."""
        (fx, fy), (cx, cy) = self.color_focal, self.color_center
        z = np.maximum(xyz[..., 2], 1e-3)
        return np.stack([cx + fx * (xyz[..., 0] + COLOR_BASELINE) / z, cy - fy * xyz[..., 1] / z], axis=-1)

    def color_rays(self) -> tuple[np.ndarray, np.ndarray]:
        """World origin (3,) and (H, W, 3) world directions (z-normalised) of every colour pixel centre."""
        (fx, fy), (cx, cy) = self.color_focal, self.color_center
        u, v = np.meshgrid(np.arange(self.width) + 0.5, np.arange(self.height) + 0.5)
        cam = np.stack([(u - cx) / fx, -(v - cy) / fy, np.ones_like(u)], axis=-1)
        origin = self.position + self.rotation.T @ np.array([-COLOR_BASELINE, 0.0, 0.0])
        return origin, cam @ self.rotation


def project_depth(xyz: np.ndarray) -> np.ndarray:
    """(..., 3) camera-space points -> (..., 2) depth-frame pixels (512x424)."""
    z = np.maximum(xyz[..., 2], 1e-3)
    return np.stack([DEPTH_CX + DEPTH_FOCAL * xyz[..., 0] / z, DEPTH_CY - DEPTH_FOCAL * xyz[..., 1] / z], axis=-1)


def look_at(position: np.ndarray, target: np.ndarray, width: int, height: int) -> KinectCamera:
    """A level (no roll) camera at position looking at target."""
    forward = np.asarray(target, float) - np.asarray(position, float)
    forward /= np.linalg.norm(forward)
    left = np.cross([0.0, 1.0, 0.0], forward)  # camera x: the sensor's left
    left /= np.linalg.norm(left)
    up = np.cross(forward, left)
    return KinectCamera(np.stack([left, up, forward]), np.asarray(position, float), width, height)


@dataclass(frozen=True)
class Rig:
    """One setup's camera arrangement (NTU changed height and distance between setups)."""
    distance: float
    height: float
    target_height: float
    jitter: np.ndarray  # (3 cameras, 3): azimuth (rad), distance (m), height (m) offsets


def sample_rig(rng: np.random.Generator) -> Rig:
    return Rig(distance=float(rng.uniform(2.7, 3.3)), height=float(rng.uniform(0.8, 1.4)),
               target_height=float(rng.uniform(0.8, 1.0)),
               jitter=rng.normal(0.0, [0.05, 0.1, 0.04], size=(3, 3)))


def rig_camera(rig: Rig, camera: int, width: int, height: int) -> KinectCamera:
    """Camera 1, 2 or 3 of a rig, rendering width x height colour frames."""
    if camera not in CAMERA_AZIMUTH_DEG:
        raise ValueError(f"camera {camera}: NTU has cameras 1, 2, 3")
    d_az, d_dist, d_h = rig.jitter[camera - 1]
    azimuth = np.deg2rad(CAMERA_AZIMUTH_DEG[camera]) + d_az
    distance = rig.distance + d_dist
    position = np.array([distance * np.sin(azimuth), rig.height + d_h, distance * np.cos(azimuth)])
    return look_at(position, np.array([0.0, rig.target_height, 0.0]), width, height)


def facing_yaw(replication: int) -> float:
    """World yaw (radians) that turns a body-local frame (facing -z) towards the replication's camera."""
    if replication not in FACED_CAMERA:
        raise ValueError(f"replication {replication}: NTU has replications 1 and 2")
    camera = FACED_CAMERA[replication]
    return float(np.deg2rad(CAMERA_AZIMUTH_DEG[camera]) + np.pi)
