"""Pixel data: frames from each task's fixed camera stored beside the state, read back aligned."""

import json

import numpy as np
import pytest

from genenv.data import (
    collect,
    episode_specs,
    load_pixel_transitions,
    load_transitions,
    pixel_info,
)
from genenv.worlds import WorldSpec
from genenv.worlds.cameras import make_pixel_env


@pytest.mark.parametrize("task", ["InvertedPendulum", "Reacher", "HalfCheetah"])
def test_collect_pixels_frames_match_a_fresh_render_of_each_state(tmp_path, task):
    collect(task, 12, tmp_path / "d", seed=3, progress=False, pixels=32, chunk_steps=5)
    px = load_pixel_transitions(tmp_path / "d")
    t = px.transitions
    assert len(t) == 12 and px.frames.dtype == np.uint8 and px.frames.shape[1:] == (32, 32, 3)
    assert pixel_info(tmp_path / "d")["size"] == 32
    assert np.array_equal(load_transitions(tmp_path / "d").obs, t.obs)  # state unchanged
    # frame of obs i -> next frame shows next_obs i: replay episode 0 and render the same frames
    env = make_pixel_env(WorldSpec(task), 32)
    meta = json.loads((tmp_path / "d" / "0" / "metadata.json").read_text())
    env.reset(seed=meta["seed"])
    assert np.array_equal(env.render(), px.frames[px.obs_frame[0]])
    env.step(t.actions[0])
    assert np.array_equal(env.render(), px.frames[px.obs_frame[0] + 1])
    env.close()
    assert episode_specs(tmp_path / "d")[0].task == task


def test_pixel_and_state_collections_do_not_mix(tmp_path):
    collect("Reacher", 5, tmp_path / "d", progress=False, pixels=32)
    with pytest.raises(ValueError, match="frames"):
        collect("Reacher", 5, tmp_path / "d", progress=False)
    with pytest.raises(ValueError, match="frames"):
        collect("Reacher", 5, tmp_path / "d", progress=False, pixels=48)
    collect("Reacher", 5, tmp_path / "s", progress=False)
    with pytest.raises(ValueError, match="no frames"):
        load_pixel_transitions(tmp_path / "s")
