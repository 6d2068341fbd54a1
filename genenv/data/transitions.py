"""`Transitions`: flat arrays of real transitions, the hand-off from data to model training."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np


@dataclass
class Transitions:
    """N real transitions from E episodes of one task (float32 unless noted)."""

    task: str
    obs: np.ndarray  # (N, obs_dim)
    actions: np.ndarray  # (N, act_dim)
    rewards: np.ndarray  # (N,)
    next_obs: np.ndarray  # (N, obs_dim)
    terminations: np.ndarray  # (N,) bool
    truncations: np.ndarray  # (N,) bool
    contexts: np.ndarray  # (N, ctx_dim), CONTEXT_FIELDS order
    episode_ids: np.ndarray  # (N,) int64, index of the episode each transition belongs to

    def __len__(self) -> int:
        return len(self.rewards)

    @property
    def num_episodes(self) -> int:
        return int(np.unique(self.episode_ids).size)

    def episode_starts(self) -> np.ndarray:
        """(E,) index of the first transition of each episode."""
        first = np.ones(len(self), dtype=bool)
        first[1:] = self.episode_ids[1:] != self.episode_ids[:-1]
        return np.flatnonzero(first)

    def fingerprint(self) -> str:
        """A short content hash, recorded in checkpoints to say which data trained a model."""
        h = hashlib.sha256()
        for arr in (self.obs, self.actions, self.rewards, self.next_obs, self.contexts):
            h.update(np.ascontiguousarray(arr).tobytes())
        return h.hexdigest()[:16]

    def select(self, mask_or_index: np.ndarray) -> Transitions:
        """A subset (e.g. the transitions of some episodes, for held-out validation)."""
        m = mask_or_index
        return Transitions(
            self.task,
            self.obs[m],
            self.actions[m],
            self.rewards[m],
            self.next_obs[m],
            self.terminations[m],
            self.truncations[m],
            self.contexts[m],
            self.episode_ids[m],
        )
