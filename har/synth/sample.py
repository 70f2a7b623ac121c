"""One synthetic sample: its random streams, its skeleton recording and its video.

Randomness: every stream is a `numpy.random.SeedSequence` keyed by the dataset seed and fields of the sample
name, so a sample's bytes do not depend on which worker makes it or in which order:
- take (setup, subject, replication, action): the performance, shared by the three cameras, as in NTU;
- record / render (the full name): what one Kinect records (noise, ghosts, IDs) and the video's lighting;
- subject, partner (subject): body proportions and clothes; scene (setup[, camera]): cameras, room, grain.
The skeleton side receives a motion family, never the class: a class only chooses the object drawn.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from har.io.names import SampleName
from har.io.skeleton_format import format_skeleton
from har.synth.actions import ActionClass
from har.synth.body import BodyShape, sample_body
from har.synth.camera import KinectCamera, facing_yaw, rig_camera, sample_rig
from har.synth.config import SynthConfig
from har.synth.objects import prop_primitives
from har.synth.performance import Performance, clip_length, family, simulate_performance
from har.synth.render import Outfit, compose, layer, person_layers, sample_outfit, write_avi
from har.synth.scene import apply_gain, frame_gains, render_background, sample_lighting, sample_room
from har.synth.skeleton import WINDOW_SLACK, Recording, record

TAKE, RECORD, RENDER, SUBJECT, PARTNER, SCENE, GRAIN = range(1, 8)


@dataclass(frozen=True)
class SampleStreams:
    take: np.random.SeedSequence
    record: np.random.SeedSequence
    render: np.random.SeedSequence
    subject: np.random.SeedSequence
    partner: np.random.SeedSequence


def sample_streams(seed: int, name: SampleName) -> SampleStreams:
    def stream(*key: int) -> np.random.SeedSequence:
        return np.random.SeedSequence(entropy=int(seed), spawn_key=tuple(int(k) for k in key))
    full = (name.setup, name.camera, name.subject, name.replication, name.action)
    return SampleStreams(take=stream(TAKE, name.setup, name.subject, name.replication, name.action),
                         record=stream(RECORD, *full), render=stream(RENDER, *full),
                         subject=stream(SUBJECT, name.subject), partner=stream(PARTNER, name.subject))


@dataclass(frozen=True)
class Person:
    body: BodyShape
    outfit: Outfit


def people(streams: SampleStreams) -> tuple[Person, Person]:
    """The subject and the partner they perform two-person actions with (always the same one)."""
    out = []
    for stream in (streams.subject, streams.partner):
        rng = np.random.default_rng(stream)
        out.append(Person(sample_body(rng), sample_outfit(rng)))
    return out[0], out[1]


@lru_cache(maxsize=4)
def _scene(seed: int, setup: int):
    rng = np.random.default_rng(np.random.SeedSequence(entropy=int(seed), spawn_key=(SCENE, int(setup))))
    return sample_rig(rng), sample_room(rng)


def scene_camera(seed: int, setup: int, camera: int, width: int, height: int) -> KinectCamera:
    return rig_camera(_scene(seed, setup)[0], camera, width, height)


@lru_cache(maxsize=8)
def scene_background(seed: int, setup: int, camera: int, width: int, height: int, grain: float) -> np.ndarray:
    """(H, W, 3) uint8 empty room seen by one camera of one setup (read-only, cached per process)."""
    rng = np.random.default_rng(np.random.SeedSequence(entropy=int(seed), spawn_key=(GRAIN, setup, camera)))
    image = render_background(_scene(seed, setup)[1], scene_camera(seed, setup, camera, width, height), rng, grain)
    image.setflags(write=False)
    return image


def take_performance(family_name: str, bodies: tuple[BodyShape, ...], replication: int, streams: SampleStreams,
                     config: SynthConfig) -> tuple[int, Performance]:
    """(recorded frames, performance) of one take: drawn from the take stream only, so the three cameras of a
    take share it and may compute it once."""
    take = np.random.default_rng(streams.take)
    frames = clip_length(take, family_name, bodies[0], config.min_frames, config.max_frames)
    return frames, simulate_performance(family_name, bodies, frames + WINDOW_SLACK, facing_yaw(replication), take)


def skeleton_recording(family_name: str, bodies: tuple[BodyShape, ...], camera: KinectCamera, replication: int,
                       streams: SampleStreams, config: SynthConfig,
                       performance: tuple[int, Performance] | None = None) -> Recording:
    """The Kinect recording of one take of a motion family (the class is deliberately not an input).
    `performance`: the take's (frames, performance) when already computed (take_performance)."""
    frames, take = performance or take_performance(family_name, bodies, replication, streams, config)
    return record(take, camera, np.random.default_rng(streams.record), config, frames)


def video_frames(recording: Recording, camera: KinectCamera, persons: tuple[Person, ...], prop: str | None,
                 background: np.ndarray, streams: SampleStreams, config: SynthConfig) -> Iterator[np.ndarray]:
    """BGR uint8 frames, one per skeleton frame; the people are drawn in every frame (also where the file has no
    body yet), the object with the subject's hands."""
    lighting = sample_lighting(np.random.default_rng(streams.render))
    gains = frame_gains(lighting, recording.num_frames)
    people_layers = [person_layers(joints, camera, person.outfit, person.body.build, person.body.height,
                                   lighting.light_dir) for person, joints in zip(persons, recording.performers)]
    for t in range(recording.num_frames):
        layers = [item for per_frame in people_layers for item in per_frame[t]]
        if prop is not None:
            layers += [layer(p, lighting.light_dir) for p in prop_primitives(
                prop, recording.performers[0, t], camera, persons[0].body.dominant, config.object_scale)]
        yield apply_gain(compose(background, layers), gains[t])


def synthesize(action: ActionClass, name: SampleName, seed: int, config: SynthConfig,
               streams: SampleStreams | None = None) -> tuple[bytes, bytes, dict]:
    """(.skeleton bytes, _rgb.avi bytes, stats) of one sample. `streams` overrides the name-derived streams
    (tests use it to give two classes the same randomness)."""
    if action.action != name.action:
        raise ValueError(f"{name}: class A{action.action:03d} does not match the sample name")
    streams = streams or sample_streams(seed, name)
    persons = people(streams)[:family(action.family).persons]
    camera = scene_camera(seed, name.setup, name.camera, config.width, config.height)
    recording = skeleton_recording(action.family, tuple(p.body for p in persons), camera, name.replication,
                                   streams, config)
    text = format_skeleton(recording.num_frames, recording.frame_order).encode("ascii")
    background = scene_background(seed, name.setup, name.camera, config.width, config.height, config.sensor_grain)
    with tempfile.TemporaryDirectory(prefix="har-synth-") as tmp:
        path = os.path.join(tmp, f"{name}_rgb.avi")
        written = write_avi(path, video_frames(recording, camera, persons, action.prop, background, streams,
                                               config))
        with open(path, "rb") as handle:
            video = handle.read()
    if written != recording.num_frames:
        raise RuntimeError(f"{name}: wrote {written} video frames for {recording.num_frames} skeleton frames")
    return text, video, recording_stats(recording)


def recording_stats(recording: Recording) -> dict:
    return {"frames": recording.num_frames, "bodies": len(recording.performers), "ghosts": recording.ghosts,
            "leading_empty": recording.leading_empty}


def synthesize_take_skeletons(action: ActionClass, names: tuple[SampleName, ...], seed: int,
                              config: SynthConfig) -> list[tuple[bytes, dict]]:
    """(.skeleton bytes, stats) of each name of one take (the cameras of one setup, subject, replication and
    action), with no video. The performance is computed once for all of them; each file is byte-identical to
    synthesize()'s for its name."""
    first = names[0]
    take = (first.setup, first.subject, first.replication, first.action)
    if action.action != first.action or any((n.setup, n.subject, n.replication, n.action) != take for n in names):
        raise ValueError(f"{', '.join(map(str, names))}: not the cameras of one take of A{action.action:03d}")
    streams = sample_streams(seed, first)
    bodies = tuple(p.body for p in people(streams)[:family(action.family).persons])
    performance = take_performance(action.family, bodies, first.replication, streams, config)
    out = []
    for name in names:
        camera = scene_camera(seed, name.setup, name.camera, config.width, config.height)
        recording = skeleton_recording(action.family, bodies, camera, name.replication, sample_streams(seed, name),
                                       config, performance)
        out.append((format_skeleton(recording.num_frames, recording.frame_order).encode("ascii"),
                    recording_stats(recording)))
    return out
