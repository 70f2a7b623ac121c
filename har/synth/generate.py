"""Generate the synthetic NTU RGB+D dataset in the real raw layout.

    out_dir/nturgb+d_skeletons/SsssCcccPpppRrrrAaaa.skeleton   (CRLF text, Kinect v2 format)
    out_dir/nturgb+d_rgb/SsssCcccPpppRrrrAaaa_rgb.avi          (Motion JPEG, intra-only, 30 fps, a frame per
                                                               skeleton frame)
    out_dir/synth_manifest.json                                 (config, seed, classes, appearance pairs, stats)

Samples are made in parallel (har.parallel.map_ordered); workers return bytes and this process alone writes,
into `<out_dir>.tmp-<pid>` renamed at the end, so the output is byte-identical for a seed whatever the
scheduler, and an interrupted run leaves nothing behind.
"""
from __future__ import annotations

import zipfile
from contextlib import ExitStack
from pathlib import Path

from har.config import to_mapping
from har.io.names import SampleName, parse_sample_name
from har.io.store import atomic_dir, write_json
from har.parallel import ComputeSettings, map_ordered
from har.synth.actions import action_class, appearance_pairs_within
from har.synth.camera import CAMERA_AZIMUTH_DEG
from har.synth.config import SynthConfig
from har.synth.render import FOURCC, FPS
from har.synth.sample import synthesize

SKELETON_DIR = "nturgb+d_skeletons"
RGB_DIR = "nturgb+d_rgb"
MANIFEST = "synth_manifest.json"
MANIFEST_VERSION = 1
ARCHIVES = ("nturgbd_skeletons_s001_to_s017.zip", "nturgbd_skeletons_s018_to_s032.zip")  # NTU's skeleton downloads


def sample_names(config: SynthConfig) -> list[SampleName]:
    """Every sample of the configuration, sorted by name."""
    names = [SampleName(setup, camera, subject, replication, action)
             for setup in range(1, config.num_setups + 1) for camera in sorted(config.cameras)
             for subject in range(1, config.num_subjects + 1)
             for replication in range(1, config.num_replications + 1) for action in sorted(config.actions)]
    return sorted(names, key=str)


def _make_sample(task: tuple[str, int, SynthConfig]) -> tuple[str, bytes, bytes, dict]:
    """Worker: (name, seed, config) -> (name, skeleton bytes, avi bytes, stats). Top-level for pickling."""
    name, seed, config = task
    parsed = parse_sample_name(name)
    text, video, stats = synthesize(action_class(parsed.action), parsed, seed, config)
    return name, text, video, stats


def manifest(config: SynthConfig, seed: int, stats: dict) -> dict:
    classes = [action_class(a) for a in sorted(config.actions)]
    return {
        "generator": "har.synth",
        "manifest_version": MANIFEST_VERSION,
        "seed": int(seed),
        "config": to_mapping(config),
        "classes": [{"action": c.action, "label": c.action - 1, "name": c.name, "motion_family": c.family,
                     "object": c.prop, "two_person": c.two_person} for c in classes],
        "appearance_pairs": [list(pair) for pair in appearance_pairs_within(config.actions)],
        "num_samples": config.num_samples,
        "cameras": {f"C{c:03d}": {"azimuth_deg": CAMERA_AZIMUTH_DEG[c]} for c in sorted(config.cameras)},
        "video": {"width": config.width, "height": config.height, "fps": FPS, "codec": FOURCC},
        "stats": stats,
    }


def generate_dataset(out_dir, config: SynthConfig, seed: int, settings: ComputeSettings,
                     progress: bool = True) -> dict:
    """Write the dataset to out_dir (replacing what is there) and return its manifest."""
    out_dir = Path(out_dir)
    names = [str(n) for n in sample_names(config)]
    with atomic_dir(out_dir) as tmp:
        tasks = [(name, int(seed), config) for name in names]
        totals = write_samples(tmp, map_ordered(_make_sample, tasks, settings, desc="synth", progress=progress))
        result = manifest(config, seed, totals)
        write_json(tmp / MANIFEST, result)
    return result


def write_samples(tmp: Path, results, archives: bool = False) -> dict:
    """Write (name, skeleton bytes, avi bytes or None, stats) results under tmp; return the manifest's stats.

    archives: the skeletons go into zip archives named and laid out as NTU distributes them (stored, not
    deflated, so writing them costs no compression) instead of nturgb+d_skeletons/."""
    totals = {"frames": 0, "two_person_samples": 0, "samples_with_ghosts": 0, "ghost_tracks": 0,
              "samples_with_leading_empty": 0, "skeleton_bytes": 0, "video_bytes": 0}
    (tmp / RGB_DIR).mkdir()
    with ExitStack() as stack:
        write_skeleton = _archive_writer(tmp, stack) if archives else _file_writer(tmp)
        for sample in results:
            write_skeleton(*sample[:2])
            _count(tmp, totals, *sample)
    return totals


def _file_writer(tmp: Path):
    (tmp / SKELETON_DIR).mkdir()
    return lambda name, text: (tmp / SKELETON_DIR / f"{name}.skeleton").write_bytes(text)


def _archive_writer(tmp: Path, stack: ExitStack):
    """NTU's archives: setups 1-17 in nturgbd_skeletons_s001_to_s017.zip, 18-32 in ..._s018_to_s032.zip."""
    opened: dict[str, zipfile.ZipFile] = {}

    def write(name: str, text: bytes) -> None:
        archive = ARCHIVES[0] if int(name[1:4]) <= 17 else ARCHIVES[1]
        if archive not in opened:
            opened[archive] = stack.enter_context(zipfile.ZipFile(tmp / archive, "w", zipfile.ZIP_STORED))
        info = zipfile.ZipInfo(f"{SKELETON_DIR}/{name}.skeleton", date_time=(2016, 1, 1, 0, 0, 0))
        opened[archive].writestr(info, text)
    return write


def _count(tmp: Path, totals: dict, name: str, text: bytes, video: bytes | None, stats: dict) -> None:
    """Write the sample's video (if any) and add its figures to the manifest's totals."""
    if video is not None:
        (tmp / RGB_DIR / f"{name}_rgb.avi").write_bytes(video)
        totals["video_bytes"] += len(video)
    totals["frames"] += stats["frames"]
    totals["two_person_samples"] += int(stats["bodies"] == 2)
    totals["samples_with_ghosts"] += int(stats["ghosts"] > 0)
    totals["ghost_tracks"] += stats["ghosts"]
    totals["samples_with_leading_empty"] += int(stats["leading_empty"] > 0)
    totals["skeleton_bytes"] += len(text)
