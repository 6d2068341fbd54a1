"""The SB3 callback that runs a curriculum inside a dream vector env.

Each slot always holds two assignments: `current` (the world its running episode plays) and
`pending` (set on the env with `env_method("set_spec", spec, indices=[i])`, used by the slot's
next reset). The SB3 adapter resets a slot in the same step its episode ends, so when `_on_step`
sees slot i done, the new episode has already started on `pending[i]`: the callback scores the
finished episode against `current[i]`, promotes `pending[i]` to `current[i]` and assigns a fresh
pending level. A slot is therefore never left with a world the curriculum did not choose, and the
auto-reset never draws a random or stale level mid-curriculum. With `verify=True` (default) the
callback checks this against the env after every step with finished episodes.

Never uses `set_options`: worlds travel only through `set_spec`.

With an on-policy agent (PPO) the callback also owns advantage normalisation (the agent's own
per-minibatch normalisation is switched off, so every world schedule is trained the same way):
at the end of each rollout, advantages are normalised over the steps that train. With
`robust=True` (PLR-perp / ACCEL) the steps of episodes on new levels (not replays) train nothing:
their advantages are set to 0 and their returns to the value estimates, so new levels are only
scored, and gradients come from replayed levels alone (robust PLR).
"""

from __future__ import annotations

import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback

from genenv.curricula.curriculum import Assignment, LevelSampler
from genenv.curricula.scoring import EpisodeStats, gae


class CurriculumCallback(BaseCallback):
    """Assigns each dream env slot its world per episode and scores finished episodes.

    Call `prime(venv)` once before the first `learn()` (before SB3's reset), then pass the
    callback to every `learn()` call of the agent.
    """

    def __init__(
        self,
        sampler: LevelSampler,
        gamma: float = 0.99,
        gae_lambda: float = 0.95,
        verify: bool = True,
        robust: bool = False,
        verbose: int = 0,
    ):
        super().__init__(verbose)
        self.sampler = sampler
        self.gamma, self.gae_lambda, self.verify = gamma, gae_lambda, verify
        self.robust = robust
        self._explore_rows: list[np.ndarray] = []  # per rollout step: (n,) True = no gradient
        self.masked_steps = 0  # rollout steps that trained nothing (robust), over the run
        self.rollout_steps = 0  # rollout steps seen, over the run
        self.current: list[Assignment] = []
        self.pending: list[Assignment | None] = []
        self.episodes = 0  # finished episodes scored
        self.history: list[dict] = []  # recent finished episodes (for summaries), capped

    # -- assigning -------------------------------------------------------------------------------
    def _assign_pending(self, venv, i: int) -> None:
        a = self.sampler.next()
        venv.env_method("set_spec", a.spec, indices=[i])
        self.pending[i] = a

    def prime(self, venv) -> None:
        """Give every slot its first world; must run before the env's (SB3's) reset."""
        n = venv.num_envs
        self.current = []
        for i in range(n):
            a = self.sampler.next()
            venv.env_method("set_spec", a.spec, indices=[i])
            self.current.append(a)
        self.pending = [None] * n
        self._reset_episode_stats(n)

    def _reset_episode_stats(self, n: int) -> None:
        self._ret = np.zeros(n)  # (n,) episode return so far
        self._len = np.zeros(n, dtype=np.int64)  # (n,) steps so far
        self._unc = np.zeros(n)  # (n,) summed ensemble disagreement
        self._rewards: list[list[float]] = [[] for _ in range(n)]
        self._values: list[list[float]] = [[] for _ in range(n)]

    def _on_training_start(self) -> None:
        if not self.current:
            raise RuntimeError("CurriculumCallback.prime(venv) must run before learn()")
        if hasattr(self.model, "rollout_buffer"):
            self.model.normalize_advantage = False  # done in _on_rollout_end, over trained steps
        elif self.robust:
            raise ValueError("robust PLR needs an on-policy agent (PPO): it masks rollout steps")
        venv = self.training_env
        for i in range(venv.num_envs):  # SB3 has reset the env: the primed worlds are running
            if self.pending[i] is None:
                self._assign_pending(venv, i)

    # -- rollouts -------------------------------------------------------------------------------
    def _on_rollout_start(self) -> None:
        self._explore_rows = []

    def _on_rollout_end(self) -> None:
        buffer = getattr(self.model, "rollout_buffer", None)
        if buffer is None:
            return
        adv = buffer.advantages  # (n_steps, n_envs)
        mask = np.zeros(adv.shape, dtype=bool)
        if self.robust and len(self._explore_rows) == adv.shape[0]:
            mask = np.stack(self._explore_rows)  # (n_steps, n_envs)
        keep = ~mask
        if keep.sum() > 1:
            adv[keep] = (adv[keep] - adv[keep].mean()) / (adv[keep].std() + 1e-8)
        adv[mask] = 0.0
        buffer.returns[mask] = buffer.values[mask]
        self.masked_steps += int(mask.sum())
        self.rollout_steps += int(mask.size)
        self.logger.record("curriculum/trained_step_share", float(keep.mean()))

    # -- every step ------------------------------------------------------------------------------
    def _on_step(self) -> bool:
        if self.robust:  # this step belongs to each slot's running episode
            self._explore_rows.append(np.array([a.kind != "replay" for a in self.current]))
        rewards = np.asarray(self.locals["rewards"], dtype=np.float64).copy()  # (n,)
        dones = np.asarray(self.locals["dones"], dtype=bool)  # (n,)
        infos = self.locals["infos"]
        values = self.locals.get("values")  # (n, 1) tensor V(s_t), PPO only
        unc = np.array([float(info.get("uncertainty", 0.0)) for info in infos])  # (n,)
        self._ret += rewards
        self._len += 1
        self._unc += np.where(np.isfinite(unc), unc, 0.0)
        if values is not None:
            v = values.detach().cpu().numpy().reshape(-1)  # (n,)
            for i in range(len(rewards)):
                self._rewards[i].append(rewards[i])
                self._values[i].append(v[i])
        done_idx = np.flatnonzero(dones)
        if len(done_idx) == 0:
            return True
        last_values = self._bootstrap_values(done_idx, infos, values is not None)
        venv = self.training_env
        for i in done_idx:
            self._finish(int(i), last_values.get(int(i), 0.0))
            self.current[i] = self.pending[i]
            self._assign_pending(venv, int(i))
        if self.verify:
            running = venv.get_attr("world_spec", indices=[int(i) for i in done_idx])
            for i, spec in zip(done_idx, running, strict=True):
                if spec != self.current[i].spec:
                    raise RuntimeError(
                        f"env slot {i} reset to {spec}, not the curriculum's {self.current[i].spec}"
                    )
        return True

    def _bootstrap_values(self, done_idx: np.ndarray, infos, has_values: bool) -> dict[int, float]:
        """V(terminal obs) of truncated episodes (0 for terminated ones), batched."""
        if not has_values:
            return {}
        trunc = [int(i) for i in done_idx if infos[i].get("TimeLimit.truncated", False)]
        if not trunc:
            return {}
        obs = np.stack([infos[i]["terminal_observation"] for i in trunc])  # (k, obs_dim)
        with torch.no_grad():
            obs_t = self.model.policy.obs_to_tensor(obs)[0]
            v = self.model.policy.predict_values(obs_t).cpu().numpy().reshape(-1)  # (k,)
        return dict(zip(trunc, v.tolist(), strict=True))

    def _finish(self, i: int, last_value: float) -> None:
        length = max(int(self._len[i]), 1)
        stats = EpisodeStats(
            episode_return=float(self._ret[i]), length=length, uncertainty=self._unc[i] / length
        )
        if self._values[i]:
            r, v = np.asarray(self._rewards[i]), np.asarray(self._values[i])  # (T,), (T,)
            adv = gae(r, v, last_value, self.gamma, self.gae_lambda)  # (T,)
            stats.positive_advantage = float(np.maximum(adv, 0.0).mean())
            stats.mean_value = float(v.mean())
        assignment = self.current[i]
        score = self.sampler.record(assignment, stats)
        self.episodes += 1
        self.logger.record_mean("curriculum/episode_return", stats.episode_return)
        self.logger.record_mean("curriculum/uncertainty", stats.uncertainty)
        self.logger.record_mean("curriculum/score", score)
        self.logger.record_mean("curriculum/replayed", float(assignment.kind == "replay"))
        buffer = getattr(self.sampler, "buffer", None)
        if buffer is not None:
            self.logger.record("curriculum/buffer_size", len(buffer))
        self.history.append(
            {"kind": assignment.kind, "return": stats.episode_return, "score": score}
        )
        del self.history[:-1000]
        self._ret[i], self._len[i], self._unc[i] = 0.0, 0, 0.0
        self._rewards[i], self._values[i] = [], []
