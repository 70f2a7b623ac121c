import numpy as np
import pytest

from har.transforms.denoise import DenoiseConfig, NoActorError, Track, select_actors


def person(frames, rng, offset=0.0, amplitude=0.3):
    """A tall, moving body: y-spread 1.6 m, x-spread 0.4 m."""
    frames = np.asarray(frames)
    base = np.stack([np.linspace(-0.2, 0.2, 25), np.linspace(-0.8, 0.8, 25), np.full(25, 3.0)], -1)
    wave = amplitude * np.sin(frames / 5.0)[:, None, None]
    xyz = base[None] + wave * np.array([1.0, 0.0, 0.0]) + offset + rng.normal(0, 0.01, (len(frames), 25, 3))
    return Track(frames=frames, xyz=xyz.astype(np.float32), extra={"color_xy": xyz[..., :2].astype(np.float32)})


def test_short_and_wide_ghost_tracks_are_dropped():
    rng = np.random.default_rng(0)
    real = person(range(40), rng)
    short = person(range(5, 12), rng, offset=1.0)  # 7 frames
    wide = Track(frames=np.arange(40), xyz=(rng.normal(0, 1, (40, 25, 3)) * [2.0, 0.2, 0.1]).astype(np.float32),
                 extra={"color_xy": np.zeros((40, 25, 2), np.float32)})
    actors = select_actors([short, wide, real], DenoiseConfig())
    assert actors.present[0].all() and not actors.present[1].any()
    np.testing.assert_array_equal(actors.xyz[0], real.xyz)
    assert len(actors.rejected) == 2


def test_id_switch_continues_the_same_actor_and_two_people_stay_apart():
    rng = np.random.default_rng(1)
    first, second = person(range(0, 30), rng), person(range(30, 60), rng)
    other = person(range(0, 60), rng, offset=1.5, amplitude=0.05)
    actors = select_actors([first, other, second], DenoiseConfig())
    assert actors.frames.tolist() == list(range(60))
    np.testing.assert_array_equal(actors.xyz[0, :30], first.xyz)
    np.testing.assert_array_equal(actors.xyz[0, 30:], second.xyz)
    np.testing.assert_array_equal(actors.xyz[1], other.xyz)
    np.testing.assert_array_equal(actors.extra["color_xy"][1], other.extra["color_xy"])


def test_frames_without_any_actor_are_dropped_and_single_tracks_are_kept_as_is():
    rng = np.random.default_rng(2)
    track = person([3, 4, 5, 9], rng)  # a single short track is not denoised
    actors = select_actors([track])
    assert actors.frames.tolist() == [3, 4, 5, 9]
    assert actors.xyz.shape == (2, 4, 25, 3)


def test_no_usable_body_is_an_error_not_zeros():
    rng = np.random.default_rng(3)
    with pytest.raises(NoActorError, match="2 track"):
        select_actors([person(range(5), rng), person(range(6), rng)])
    with pytest.raises(NoActorError):
        select_actors([])
