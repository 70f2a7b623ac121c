"""The synthetic dataset's class catalogue: real NTU action ids, the motion family each follows and the object
drawn in its video.

Classes sharing a motion family have the same skeleton distribution: the skeleton generator only ever sees the
family (never the class), so such classes differ only by the object in the video. `APPEARANCE_PAIRS` lists them
(1-based action ids) so reports can score the appearance-only pairs separately.
"""
from __future__ import annotations

from dataclasses import dataclass

from har.layout import NTU_ACTION_NAMES, TWO_PERSON_ACTIONS


@dataclass(frozen=True)
class ActionClass:
    action: int  # 1-based NTU action id (label = action - 1)
    family: str  # motion family (performance.FAMILIES)
    prop: str | None  # object drawn with the hands in the video (objects.PROPS), None for none

    @property
    def name(self) -> str:
        return NTU_ACTION_NAMES[self.action - 1]

    @property
    def two_person(self) -> bool:
        return self.action in TWO_PERSON_ACTIONS


ACTION_CLASSES: tuple[ActionClass, ...] = (
    ActionClass(1, "hand_to_mouth", "cup"),
    ActionClass(3, "hand_to_mouth", "toothbrush"),
    ActionClass(8, "sit_down", None),
    ActionClass(9, "stand_up", None),
    ActionClass(10, "clapping", None),
    ActionClass(11, "hold_and_look_down", "book"),
    ActionClass(12, "hold_and_look_down", "notepad_and_pen"),
    ActionClass(23, "hand_waving", None),
    ActionClass(24, "kicking", None),
    ActionClass(26, "hopping", None),
    ActionClass(27, "jump_up", None),
    ActionClass(29, "hands_front_fiddle", "tablet"),
    ActionClass(30, "hands_front_fiddle", "keyboard"),
    ActionClass(31, "reach_forward_up", None),
    ActionClass(32, "reach_forward_up", "phone"),
    ActionClass(38, "salute", None),
    ActionClass(43, "falling", None),
    ActionClass(50, "punching", None),
    ActionClass(55, "hugging", None),
    ActionClass(58, "handshaking", None),
)
CLASSES_BY_ACTION: dict[int, ActionClass] = {c.action: c for c in ACTION_CLASSES}

# Pairs of classes with one motion family, told apart only by the object (drink/brush teeth, read/write,
# phone-tablet/keyboard, point/selfie).
APPEARANCE_PAIRS: tuple[tuple[int, int], ...] = ((1, 3), (11, 12), (29, 30), (31, 32))

# The shipped dataset: three appearance pairs, seven classes separable by motion, three two-person classes.
DEFAULT_ACTIONS: tuple[int, ...] = (1, 3, 8, 9, 10, 11, 12, 23, 24, 27, 31, 32, 43, 50, 55, 58)


def action_class(action: int) -> ActionClass:
    """The catalogue entry of a 1-based action id, with a clear error for ids the generator cannot make."""
    try:
        return CLASSES_BY_ACTION[int(action)]
    except KeyError:
        known = ", ".join(f"A{a:03d}" for a in sorted(CLASSES_BY_ACTION))
        raise ValueError(f"synthetic data has no generator for action A{int(action):03d} (known: {known})") from None


def appearance_pairs_within(actions) -> tuple[tuple[int, int], ...]:
    """The APPEARANCE_PAIRS whose two classes are both among actions."""
    chosen = set(int(a) for a in actions)
    return tuple(pair for pair in APPEARANCE_PAIRS if set(pair) <= chosen)
