"""Every knob of the synthetic NTU generator, with the defaults of the shipped dataset.

Default: 16 classes x 10 subjects (P001-P010: 6 in the NTU60 cross-subject training set, 4 in its test set)
x 3 cameras x 2 replications x 1 setup = 960 samples, 480x270 video, 40-90 frames. `SynthConfig.tiny()` is a
seconds-to-generate variant for tests. Scale up with num_setups, num_subjects, actions, width/height.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from har.synth.actions import DEFAULT_ACTIONS, action_class

GHOST_SAFE_MIN_FRAMES = 16  # > 11 (ghost threshold of the NTU denoising) plus a few empty leading frames


@dataclass(frozen=True)
class SynthConfig:
    actions: tuple[int, ...] = DEFAULT_ACTIONS  # 1-based NTU action ids (see actions.ACTION_CLASSES)
    num_setups: int = 1  # S001..
    num_subjects: int = 10  # P001..
    cameras: tuple[int, ...] = (1, 2, 3)  # C001 0 deg, C002 +45 deg, C003 -45 deg
    num_replications: int = 2  # R001 faces camera 2, R002 faces camera 3
    width: int = 480  # rendered video size; colour coordinates live in this pixel space (NTU: 1920x1080)
    height: int = 270
    min_frames: int = 40
    max_frames: int = 90
    joint_noise_mm: float = 3.0  # base jitter (trunk); extremities up to 4.5x
    inferred_rate: float = 0.01  # per frame and limb: chance a loss-of-tracking episode starts
    ghost_probability: float = 0.15  # chance a recording holds a short spurious body (a second one: 1/4 of that)
    leading_empty_probability: float = 0.2  # chance the first frames have no body
    max_leading_empty: int = 5
    object_scale: float = 1.3  # hand-held objects are drawn this much larger than life, to stay visible
    sensor_grain: float = 2.0  # std (grey levels) of the static sensor grain baked into the backgrounds

    def __post_init__(self):
        if not self.actions:
            raise ValueError("synth.actions: give at least one action id")
        for action in self.actions:
            action_class(action)  # raises for ids without a generator
        if len(set(self.actions)) != len(self.actions):
            raise ValueError(f"synth.actions: repeated ids in {self.actions}")
        if not 1 <= self.num_setups <= 17:
            raise ValueError(f"synth.num_setups={self.num_setups}: NTU60 has setups 1..17")
        if not 1 <= self.num_subjects <= 40:
            raise ValueError(f"synth.num_subjects={self.num_subjects}: NTU60 has subjects 1..40")
        if not self.cameras or not set(self.cameras) <= {1, 2, 3} or len(set(self.cameras)) != len(self.cameras):
            raise ValueError(f"synth.cameras={self.cameras}: pick distinct cameras among 1, 2, 3")
        if self.num_replications not in (1, 2):
            raise ValueError(f"synth.num_replications={self.num_replications}: NTU has 1 or 2")
        if self.width < 32 or self.height < 18 or self.width % 2 or self.height % 2:
            raise ValueError(f"synth video {self.width}x{self.height}: need even sizes of at least 32x18")
        if self.min_frames < GHOST_SAFE_MIN_FRAMES + self.max_leading_empty or self.max_frames < self.min_frames:
            raise ValueError(f"synth frames {self.min_frames}..{self.max_frames}: need min_frames >= "
                             f"{GHOST_SAFE_MIN_FRAMES} + max_leading_empty and max_frames >= min_frames")
        for name in ("inferred_rate", "ghost_probability", "leading_empty_probability"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"synth.{name}={getattr(self, name)}: must be a probability in [0, 1]")
        if min(self.joint_noise_mm, self.sensor_grain, self.max_leading_empty) < 0 or self.object_scale <= 0:
            raise ValueError("synth.joint_noise_mm, sensor_grain and max_leading_empty must be >= 0, "
                             "object_scale > 0")

    @classmethod
    def tiny(cls, **overrides) -> SynthConfig:
        """A few-seconds dataset for tests: drink/brush (appearance pair), clapping, handshaking (two people);
        3 subjects (2 train, 1 test), cameras 1-2, one replication, 160x90, 21-36 frames: 24 samples."""
        base = cls(actions=(1, 3, 10, 58), num_subjects=3, cameras=(1, 2), num_replications=1, width=160,
                   height=90, min_frames=21, max_frames=36)
        return replace(base, **overrides)

    @property
    def num_samples(self) -> int:
        return (len(self.actions) * self.num_setups * self.num_subjects * len(self.cameras)
                * self.num_replications)
