"""The one place for skeleton layouts, body-part groups, NTU action names and the NTU benchmark split rules.

Joint indices are 0-based everywhere in code; the NTU documentation numbers joints from 1, so the tables below
are written 1-based (as published) and converted once.
"""
from __future__ import annotations

import numpy as np

# --- NTU RGB+D (Kinect v2) 25-joint layout -------------------------------------------------------------------
NTU_JOINT_NAMES: tuple[str, ...] = (
    "spine_base", "spine_mid", "neck", "head",
    "left_shoulder", "left_elbow", "left_wrist", "left_hand",
    "right_shoulder", "right_elbow", "right_wrist", "right_hand",
    "left_hip", "left_knee", "left_ankle", "left_foot",
    "right_hip", "right_knee", "right_ankle", "right_foot",
    "spine_shoulder", "left_hand_tip", "left_thumb", "right_hand_tip", "right_thumb",
)
NUM_JOINTS = 25

# ST-GCN / 2s-AGCN / CTR-GCN edges (1-based, child -> parent). The hand tip attaches to the thumb and the thumb
# to the hand, as in those repos (PYSKL attaches both to the hand instead; a test pins this choice).
_NTU_EDGES_1BASED = (
    (1, 2), (2, 21), (3, 21), (4, 3), (5, 21), (6, 5), (7, 6), (8, 7), (9, 21), (10, 9), (11, 10), (12, 11),
    (13, 1), (14, 13), (15, 14), (16, 15), (17, 1), (18, 17), (19, 18), (20, 19), (22, 23), (23, 8), (24, 25),
    (25, 12),
)
NTU_EDGES: tuple[tuple[int, int], ...] = tuple((a - 1, b - 1) for a, b in _NTU_EDGES_1BASED)
NTU_CENTER = 21 - 1  # spine shoulder: the root of the spatial partition strategy

# Bone vectors of the 2s-AGCN bone stream: bone(v) = joint(v) - joint(parent(v)); the centre's bone is zero.
NTU_PARENT: tuple[int, ...] = tuple(
    dict(NTU_EDGES).get(v, v) for v in range(NUM_JOINTS)
)

# Named joints used by transforms (0-based).
SPINE_BASE, SPINE_MID, NECK, HEAD = 0, 1, 2, 3
LEFT_SHOULDER, RIGHT_SHOULDER = 4, 8
LEFT_HAND, RIGHT_HAND, LEFT_FOOT, RIGHT_FOOT = 7, 11, 15, 19
SPINE_SHOULDER = 20

# Body-part groups (0-based). Das et al.: crops around each hand and the full body.
LEFT_HAND_JOINTS: tuple[int, ...] = tuple(j - 1 for j in (7, 8, 22, 23))
RIGHT_HAND_JOINTS: tuple[int, ...] = tuple(j - 1 for j in (11, 12, 24, 25))
FULL_BODY_JOINTS: tuple[int, ...] = tuple(range(NUM_JOINTS))
CROP_PARTS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("left_hand", LEFT_HAND_JOINTS), ("right_hand", RIGHT_HAND_JOINTS), ("full_body", FULL_BODY_JOINTS),
)
# ST-ROI mosaic rows: one joint per part, in row order (head, left hand, right hand, left foot, right foot).
STROI_PARTS: tuple[tuple[str, int], ...] = (
    ("head", HEAD), ("left_hand", LEFT_HAND), ("right_hand", RIGHT_HAND),
    ("left_foot", LEFT_FOOT), ("right_foot", RIGHT_FOOT),
)

# --- COCO-17 layout (PYSKL 2D HRNet pickles) ------------------------------------------------------------------
COCO_JOINT_NAMES: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)
COCO_EDGES: tuple[tuple[int, int], ...] = (
    (0, 1), (0, 2), (1, 3), (2, 4), (0, 5), (5, 7), (7, 9), (0, 6), (6, 8), (8, 10), (5, 11), (11, 13),
    (13, 15), (6, 12), (12, 14), (14, 16), (11, 12), (5, 6),
)

LAYOUTS: dict[str, dict] = {
    "ntu25": {"joints": NTU_JOINT_NAMES, "edges": NTU_EDGES},
    "coco17": {"joints": COCO_JOINT_NAMES, "edges": COCO_EDGES},
}


def layout_for_joints(num_joints: int) -> str:
    """Name of the layout with this many joints ('ntu25' or 'coco17')."""
    for name, spec in LAYOUTS.items():
        if len(spec["joints"]) == num_joints:
            return name
    raise ValueError(f"no known skeleton layout has {num_joints} joints (known: ntu25, coco17)")


# --- NTU actions -------------------------------------------------------------------------------------------
NTU_ACTION_NAMES: tuple[str, ...] = (
    "drink water", "eat meal/snack", "brushing teeth", "brushing hair", "drop", "pickup", "throw",
    "sitting down", "standing up", "clapping", "reading", "writing", "tear up paper", "wear jacket",
    "take off jacket", "wear a shoe", "take off a shoe", "wear on glasses", "take off glasses",
    "put on a hat/cap", "take off a hat/cap", "cheer up", "hand waving", "kicking something",
    "reach into pocket", "hopping", "jump up", "make a phone call", "playing with phone/tablet",
    "typing on a keyboard", "pointing to something with finger", "taking a selfie", "check time (from watch)",
    "rub two hands together", "nod head/bow", "shake head", "wipe face", "salute", "put the palms together",
    "cross hands in front", "sneeze/cough", "staggering", "falling", "touch head", "touch chest",
    "touch back", "touch neck", "nausea or vomiting", "use a fan", "punching/slapping other person",
    "kicking other person", "pushing other person", "pat on back of other person",
    "point finger at the other person", "hugging other person", "giving something to other person",
    "touch other person's pocket", "handshaking", "walking towards each other",
    "walking apart from each other",
    "put on headphone", "take off headphone", "shoot at the basket", "bounce ball", "tennis bat swing",
    "juggling table tennis balls", "hush", "flick hair", "thumb up", "thumb down", "make ok sign",
    "make victory sign", "staple book", "counting money", "cutting nails", "cutting paper", "snapping fingers",
    "open bottle", "sniff", "squat down", "toss a coin", "fold paper", "ball up paper", "play magic cube",
    "apply cream on face", "apply cream on hand back", "put on bag", "take off bag",
    "put something into a bag", "take something out of a bag", "open a box", "move heavy objects",
    "shake fist", "throw up cap/hat", "hands up", "cross arms", "arm circles", "arm swings",
    "running on the spot", "butt kicks", "cross toe touch", "side kick", "yawn", "stretch oneself",
    "blow nose", "hit other person with something", "wield knife towards other person",
    "knock over other person", "grab other person's stuff", "shoot at other person with a gun",
    "step on foot", "high-five", "cheers and drink", "carry something with other person",
    "take a photo of other person", "follow other person", "whisper in other person's ear",
    "exchange things with other person", "support somebody with hand", "finger-guessing game",
)
assert len(NTU_ACTION_NAMES) == 120

TWO_PERSON_ACTIONS: frozenset[int] = frozenset(list(range(50, 61)) + list(range(106, 121)))  # 1-based A ids


def action_name(label: int) -> str:
    """Human name of a 0-based label (label = A - 1)."""
    return NTU_ACTION_NAMES[label] if 0 <= label < len(NTU_ACTION_NAMES) else f"A{label + 1:03d}"


# --- NTU benchmark splits ----------------------------------------------------------------------------------
XSUB_TRAIN_SUBJECTS_60: frozenset[int] = frozenset(
    (1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38)
)
XSUB_TRAIN_SUBJECTS_120: frozenset[int] = XSUB_TRAIN_SUBJECTS_60 | frozenset(
    (45, 46, 47, 49, 50, 52, 53, 54, 55, 56, 57, 58, 59, 70, 74, 78, 80, 81, 82, 83, 84, 85, 86, 89, 91, 92,
     93, 94, 95, 97, 98, 100, 103)
)
XVIEW_TRAIN_CAMERAS: frozenset[int] = frozenset((2, 3))


def dataset_variant(setup: np.ndarray, action: np.ndarray) -> str:
    """'ntu60' when every sample fits NTU60 (S001-S017, A001-A060), else 'ntu120'."""
    setup, action = np.asarray(setup), np.asarray(action)
    if setup.size and (setup.max() > 17 or action.max() > 60):
        return "ntu120"
    return "ntu60"


def benchmark_splits(variant: str, setup: np.ndarray, camera: np.ndarray,
                     subject: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """Official split rules as index arrays: {'xsub': {'train': idx, 'test': idx}, 'xview'|'xset': {...}}.

    setup, camera, subject: (N,) ints from the sample names. NTU60 has xsub and xview, NTU120 xsub and xset.
    """
    setup, camera, subject = (np.asarray(a) for a in (setup, camera, subject))
    if variant == "ntu60":
        train_subjects, second = XSUB_TRAIN_SUBJECTS_60, ("xview", np.isin(camera, list(XVIEW_TRAIN_CAMERAS)))
    elif variant == "ntu120":
        train_subjects, second = XSUB_TRAIN_SUBJECTS_120, ("xset", setup % 2 == 0)
    else:
        raise ValueError(f"unknown dataset variant {variant!r} (expected 'ntu60' or 'ntu120')")
    rules = {"xsub": np.isin(subject, list(train_subjects)), second[0]: second[1]}
    return {
        name: {"train": np.flatnonzero(is_train).astype(np.int64),
               "test": np.flatnonzero(~is_train).astype(np.int64)}
        for name, is_train in rules.items()
    }
