"""Gymnasium vector infos for `DreamVectorEnv.step`: the numpy layout (values with `_key` masks)
that gymnasium's `SyncVectorEnv` + `RecordEpisodeStatistics` produce, from the tensor API's infos."""

from __future__ import annotations

from typing import Any

import numpy as np


def vector_infos(t: dict[str, np.ndarray], same_step: bool) -> dict[str, Any]:
    """Gymnasium vector infos from the tensor infos `t` (moved to numpy), NEXT_STEP or SAME_STEP
    autoreset (`same_step`).

    As in SyncVectorEnv + RecordEpisodeStatistics, "episode" and (SAME_STEP) "final_obs" /
    "final_info" appear only on steps where some episode ended.
    """
    done = t["_episode"]
    step_info = {"uncertainty": t["uncertainty"], "model_nonfinite": t["model_nonfinite"]}
    # Slots that were reset this step carry reset infos (none) at the top level.
    stepped = ~done if same_step else ~t["autoreset"]
    infos: dict[str, Any] = {}
    for key, value in step_info.items():
        infos[key], infos["_" + key] = value, stepped.copy()
    if not done.any():
        return infos
    infos["episode"] = {
        "r": t["episode_return"].astype(np.float64),
        "l": t["episode_length"],
        "_r": done.copy(),
        "_l": done.copy(),
    }
    infos["_episode"] = done.copy()
    if same_step:
        final = np.full(len(done), None, dtype=object)
        for i in np.flatnonzero(done):
            final[i] = t["final_obs"][i]
        infos["final_obs"], infos["_final_obs"] = final, done.copy()
        infos["final_info"] = {**step_info, **{"_" + k: done.copy() for k in step_info}}
        infos["_final_info"] = done.copy()
    return infos
