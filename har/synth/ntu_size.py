"""NTU-size synthetic datasets: every sample name of NTU RGB+D 60 (56,880) or 120 (114,480), for benchmarks.

The real datasets are a full grid per (setup, subject) pair: 3 cameras x 2 replications x 60 actions = 360
samples each. Setups S001-S017 hold actions A001-A060 (NTU60: 158 pairs, 56,880 samples); NTU120 adds setups
S018-S032 with actions A061-A120 only (160 pairs, 57,600 samples). The pairs below are those of the official
file lists (every available name plus the official missing-skeleton lists, 56,880 and 114,480 names), so the
generated names are exactly the real ones.

The generator has motion families for 20 NTU classes (actions.ACTION_CLASSES). Every other action id gets a
stand-in class: a motion family picked by cycling through the families with the right number of people (two-person
families for TWO_PERSON_ACTIONS) and no object. Stand-ins make NTU-shaped inputs of realistic size and format for
the data stages; they are not meant to be separable classes.
"""
from __future__ import annotations

from pathlib import Path

from har.config import to_mapping
from har.io.names import SampleName, parse_sample_name
from har.io.store import atomic_dir, write_json
from har.layout import TWO_PERSON_ACTIONS
from har.parallel import ComputeSettings, map_ordered
from har.synth.actions import CLASSES_BY_ACTION, ActionClass
from har.synth.config import SynthConfig
from har.synth.generate import MANIFEST, MANIFEST_VERSION, write_samples
from har.synth.performance import FAMILIES
from har.synth.render import FOURCC, FPS
from har.synth.sample import synthesize, synthesize_take_skeletons

SIZES = ("ntu60", "ntu120")

# setup -> subjects recorded in it (official NTU RGB+D 60 / 120 file lists)
SETUP_SUBJECTS: dict[int, tuple[int, ...]] = {
    1: (1, 2, 3, 4, 5, 6, 7, 8), 2: (3, 7, 8, 9, 10, 11, 12, 13, 14), 3: (1, 2, 7, 8, 15, 16, 17, 18, 19),
    4: (3, 7, 8, 20), 5: (4, 10, 13, 15, 16, 17, 18, 21), 6: (1, 7, 8, 15, 16, 17, 19, 22, 23, 24),
    7: (1, 7, 8, 15, 16, 17, 18, 19, 25, 26, 27, 28), 8: (1, 7, 8, 15, 19, 25, 29, 30, 31, 32, 33, 34, 35, 36),
    9: (7, 8, 15, 16, 17, 19, 25), 10: (7, 8, 13, 15, 16, 17, 18, 19, 21, 25),
    11: (1, 2, 7, 8, 15, 16, 17, 18, 19, 25, 27, 28, 38), 12: (7, 8, 15, 16, 17, 18, 19, 25, 27, 28, 37),
    13: (7, 8, 15, 16, 17, 18, 19, 25, 27, 28, 37), 14: (7, 8, 15, 17, 19, 25, 27, 37, 39),
    15: (7, 8, 15, 16, 17, 19, 25, 37), 16: (7, 8, 19, 21, 25, 39, 40), 17: (3, 7, 8, 9, 15, 16, 17, 20),
    18: (8, 41, 42, 43, 44, 45), 19: (8, 41, 42, 46, 47, 48, 49, 50, 51), 20: (8, 41, 43, 44, 52, 53, 54),
    21: (55, 56, 57, 58, 59, 60), 22: (61, 62, 63, 64, 65, 66, 67),
    23: (55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 66, 67, 68), 24: (57, 60, 61, 62, 63, 64, 67),
    25: (55, 56, 58, 59, 65, 66, 68), 26: (8, 41, 44, 49, 50, 51, 69, 70, 71, 72, 74, 75, 76, 77),
    27: (6, 8, 11, 41, 43, 44, 78, 79, 80, 81, 82, 83, 84, 85, 86), 28: (8, 41, 42, 43, 46, 48, 70, 73, 87),
    29: (6, 8, 41, 43, 44, 48, 49, 51, 67, 74, 75, 80, 88, 89, 90),
    30: (8, 11, 41, 43, 44, 48, 67, 75, 76, 81, 85, 88, 91, 92, 93, 94, 95, 96),
    31: (6, 8, 41, 42, 43, 44, 51, 67, 82, 85, 96, 97, 98, 99, 100, 101),
    32: (8, 41, 43, 44, 67, 102, 103, 104, 105, 106),
}
SAMPLE_COUNTS = {"ntu60": 56_880, "ntu120": 114_480}
# SynthConfig fields an NTU-size dataset replaces by the NTU grid
GRID_FIELDS = ("actions", "num_setups", "num_subjects", "cameras", "num_replications")


def _setup_actions(setup: int) -> range:
    return range(1, 61) if setup <= 17 else range(61, 121)


def ntu_sample_names(size: str) -> list[SampleName]:
    """Every sample name of NTU RGB+D 60 ('ntu60') or 120 ('ntu120'), sorted by name."""
    if size not in SIZES:
        raise ValueError(f"unknown NTU size {size!r} (expected one of {', '.join(SIZES)})")
    setups = range(1, 18) if size == "ntu60" else range(1, 33)
    names = [SampleName(setup, camera, subject, replication, action) for setup in setups
             for camera in (1, 2, 3) for subject in SETUP_SUBJECTS[setup] for replication in (1, 2)
             for action in _setup_actions(setup)]
    return sorted(names, key=str)


def spread(names: list, count: int | None) -> list:
    """`count` items evenly spread over names (in order; all of them for None), so a subset still covers every
    setup, camera and subject of the full list."""
    if count is None or count >= len(names):
        return list(names)
    if count < 1:
        raise ValueError(f"sample count {count}: must be at least 1")
    return [names[i * len(names) // count] for i in range(count)]


def ntu_subset(size: str, count: int | None = None) -> list[SampleName]:
    """`count` names of an NTU size (all for None), sorted: whole takes (the three cameras of one performance)
    evenly spread over the takes, so every setup and subject is represented and each take keeps its views
    (only the last take is cut short when count is not a multiple of 3)."""
    groups = takes(ntu_sample_names(size))
    if count is None:
        return [name for group in groups for name in group]
    chosen = spread(groups, -(-count // 3))
    return sorted([name for group in chosen for name in group][:count], key=str)


def _families(persons: int) -> list[str]:
    return sorted(name for name, spec in FAMILIES.items() if spec.persons == persons)


def ntu_action_class(action: int) -> ActionClass:
    """The generator's class for an NTU action id (1..120): the catalogue's, else a stand-in (see module doc)."""
    if not 1 <= action <= 120:
        raise ValueError(f"action A{action:03d}: NTU has actions 1..120")
    if action in CLASSES_BY_ACTION:
        return CLASSES_BY_ACTION[action]
    families = _families(2 if action in TWO_PERSON_ACTIONS else 1)
    return ActionClass(action, families[action % len(families)], None)


def takes(names: list[SampleName]) -> list[tuple[SampleName, ...]]:
    """Names grouped by take (setup, subject, replication, action): the cameras that film one performance,
    in name order of each take's first name."""
    groups: dict[tuple[int, int, int, int], list[SampleName]] = {}
    for name in sorted(names, key=str):
        groups.setdefault((name.setup, name.subject, name.replication, name.action), []).append(name)
    return sorted((tuple(group) for group in groups.values()), key=lambda group: str(group[0]))


def _make_take(task: tuple[tuple[str, ...], int, SynthConfig, bool]) -> list[tuple[str, bytes, bytes | None, dict]]:
    """Worker: the cameras of one take -> [(name, skeleton bytes, avi bytes or None, stats)]."""
    names, seed, config, video = task
    parsed = tuple(parse_sample_name(name) for name in names)
    action = ntu_action_class(parsed[0].action)
    if video:
        return [(str(name), *synthesize(action, name, seed, config)) for name in parsed]
    return [(str(name), text, None, stats)
            for name, (text, stats) in zip(parsed, synthesize_take_skeletons(action, parsed, seed, config))]


def generate_ntu_size(out_dir, size: str, config: SynthConfig, seed: int, settings: ComputeSettings, *,
                      count: int | None = None, video: bool = False, archives: bool = False,
                      progress: bool = True) -> dict:
    """Write an NTU-size dataset (`count` of its names, all for None: ntu_subset) to
    out_dir, replacing it: `.skeleton` files, and `_rgb.avi` videos at config.width x config.height if `video`.
    The grid fields of config (actions, setups, subjects, cameras, replications) are not used; the rest are.
    archives: the skeletons in NTU's zip archives instead of nturgb+d_skeletons/ (har.synth.generate.write_samples).
    Returns the manifest."""
    names = ntu_subset(size, count)
    groups = [tuple(str(n) for n in group) for group in takes(names)]
    tasks = [(group, int(seed), config, video) for group in groups]
    video_info = {"width": config.width, "height": config.height, "fps": FPS, "codec": FOURCC} if video else None
    used = {key: value for key, value in to_mapping(config).items() if key not in GRID_FIELDS}
    with atomic_dir(Path(out_dir)) as tmp:
        results = map_ordered(_make_take, tasks, settings, desc=f"synth {size} (takes)", progress=progress)
        totals = write_samples(tmp, (sample for take in results for sample in take), archives)
        result = {"generator": "har.synth", "manifest_version": MANIFEST_VERSION, "seed": int(seed), "size": size,
                  "num_samples": len(names), "of": SAMPLE_COUNTS[size], "takes": len(groups), "video": video_info,
                  "skeleton_archives": archives,
                  "config": used, "stats": totals}
        write_json(tmp / MANIFEST, result)
    return result
