"""On-device PPO: CleanRL-style continuous PPO whose whole loop stays in torch on the env's device.

It drives any vector env with the tensor API of `genenv.envs.vector.DreamVectorEnv`
(`reset_tensor(seed) -> obs`, `step_tensor(actions) -> (obs, reward, terminated, truncated, info)`),
so rollouts, GAE and updates never touch numpy. `PPOConfig` uses SB3's PPO hyper-parameter names,
so one YAML recipe drives both this agent and SB3's (`PPOConfig.from_recipe`).

Truncation: a truncated (not terminated) step bootstraps with the value of the true final
observation, added to its reward as `gamma * V(final_obs)` (as SB3 does). With SAME_STEP autoreset
the final observation comes from `info["final_obs"]` (rows where `info["_final_obs"]`); with
NEXT_STEP autoreset it is the returned observation, and the following step (the env's reset step,
whose transition is not real) is dropped from the update.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from genenv.agents.ppo_config import PPOConfig
from genenv.agents.ppo_nets import ActorCritic, RunningMeanStd

__all__ = ["OnDevicePPO", "PPOConfig"]


def _autoreset_mode(env: Any) -> str:
    """'next_step' | 'same_step' | 'disabled' from `env.metadata["autoreset_mode"]`."""
    mode = env.metadata.get("autoreset_mode", "NextStep")
    text = str(getattr(mode, "value", mode)).replace("_", "").lower()
    return {"nextstep": "next_step", "samestep": "same_step"}.get(text, text)


class OnDevicePPO:
    """PPO that trains on a tensor vector env without leaving its device.

    `env` needs `num_envs`, `single_observation_space`, `single_action_space` (a Box),
    `metadata["autoreset_mode"]`, `reset_tensor(seed)` and `step_tensor(actions)`; it may be None
    for a loaded agent that only predicts.
    """

    def __init__(
        self,
        env: Any,
        config: PPOConfig | None = None,
        device: str | None = None,
        *,
        obs_dim: int | None = None,
        action_low: Any = None,
        action_high: Any = None,
        tensorboard_log: str | None = None,
    ):
        self.config = cfg = config or PPOConfig()
        self.env, self.tensorboard_log, self._writer = env, tensorboard_log, None
        if env is not None:
            obs_dim = int(env.single_observation_space.shape[0])
            action_low = env.single_action_space.low
            action_high = env.single_action_space.high
            device = device or str(getattr(env, "device", "cpu"))
        if obs_dim is None or action_low is None or action_high is None:
            raise ValueError("OnDevicePPO needs an env, or obs_dim and action bounds")
        self.device = torch.device(device or "cpu")
        self.low = torch.as_tensor(action_low, dtype=torch.float32, device=self.device).flatten()
        self.high = torch.as_tensor(action_high, dtype=torch.float32, device=self.device).flatten()
        self.obs_dim, self.act_dim = obs_dim, int(self.low.numel())
        with torch.random.fork_rng(devices=[]):  # seed the init without touching global RNG
            torch.manual_seed(cfg.seed)
            self.policy = ActorCritic(obs_dim, self.act_dim, cfg).to(self.device)
        self.obs_rms = RunningMeanStd((obs_dim,)).to(self.device)
        self.ret_rms = RunningMeanStd(()).to(self.device)
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=cfg.learning_rate, eps=1e-5)
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(cfg.seed)
        self.num_timesteps = 0
        self._state: dict[str, torch.Tensor] | None = None  # running rollout between learn calls

    @classmethod
    def from_recipe(
        cls,
        recipe: Any,
        env: Any,
        seed: int = 0,
        tensorboard_log: str | None = None,
        device: str | None = None,
    ) -> OnDevicePPO:
        """An agent for a recipe (a dict or `genenv.agents.recipe.Recipe`) on a tensor env."""
        raw = recipe.to_dict() if hasattr(recipe, "to_dict") else dict(recipe)
        config = PPOConfig.from_recipe(raw)
        config.seed = seed
        return cls(env, config, device, tensorboard_log=tensorboard_log)

    def set_dream_env(self, env: Any) -> None:
        """Train on a new env from the next `learn` on (e.g. after the world model was refined)."""
        if int(env.single_observation_space.shape[0]) != self.obs_dim:
            raise ValueError(
                f"env has {env.single_observation_space.shape[0]} obs features, "
                f"agent expects {self.obs_dim}"
            )
        self.env, self._state = env, None

    # -- helpers -------------------------------------------------------------------------------
    def _norm_obs(self, obs: torch.Tensor) -> torch.Tensor:  # (n, obs_dim)
        if not self.config.normalize_obs:
            return obs
        c = self.config.clip_obs
        return ((obs - self.obs_rms.mean) / (self.obs_rms.var + 1e-8).sqrt()).clamp(-c, c)

    def _to_env(self, u: torch.Tensor) -> torch.Tensor:  # raw Gaussian sample -> env action
        if self.config.squash == "tanh":
            return self.low + (torch.tanh(u) + 1.0) * 0.5 * (self.high - self.low)
        return torch.maximum(torch.minimum(u, self.high), self.low)

    def _final_obs(self, obs: torch.Tensor, info: dict, mode: str) -> torch.Tensor:
        if mode == "next_step":
            return obs  # the returned obs of a done step is its true final obs
        final = info.get("final_obs")
        if not isinstance(final, torch.Tensor):
            raise ValueError("SAME_STEP env must give info['final_obs'] as a tensor for PPO")
        return final

    # -- training ------------------------------------------------------------------------------
    def learn(
        self,
        total_timesteps: int,
        callback: Callable[..., Any] | None = None,
        progress: bool = True,
        writer: Any = None,
        seed: int | None = None,
        reset_num_timesteps: bool = True,
        progress_bar: bool | None = None,
    ) -> OnDevicePPO:
        """Train for `total_timesteps` env steps (rounded up to whole rollouts).

        `callback(agent, stats) -> bool | None` runs after each update; False stops training.
        `writer`: a `torch.utils.tensorboard.SummaryWriter` (charts/, losses/ keys); default one
        in `tensorboard_log` if the agent was given that. As in SB3, `reset_num_timesteps=False`
        continues the step count and the running episodes instead of resetting the env;
        `progress_bar` is SB3's name for `progress`.
        """
        from genenv.progress import progress_bar

        env, cfg, dev = self.env, self.config, self.device
        if env is None:
            raise ValueError("this agent has no env; pass one to OnDevicePPO(...) to learn")
        mode = _autoreset_mode(env)
        if mode not in ("next_step", "same_step"):
            raise ValueError(f"on-device PPO needs NEXT_STEP or SAME_STEP autoreset, got {mode}")
        if writer is None and self.tensorboard_log is not None:
            from torch.utils.tensorboard import SummaryWriter

            writer = self._writer = self._writer or SummaryWriter(self.tensorboard_log)
        if reset_num_timesteps:
            self.num_timesteps = 0
        if reset_num_timesteps or self._state is None:
            n = env.num_envs
            self._state = {
                "obs": env.reset_tensor(seed=cfg.seed if seed is None else seed),  # (n, obs_dim)
                "pending": torch.zeros(n, dtype=torch.bool, device=dev),  # NEXT_STEP reset next
                "ep_ret": torch.zeros(n, device=dev),  # running episode return
                "ep_len": torch.zeros(n, device=dev),
                "disc_ret": torch.zeros(n, device=dev),  # discounted return (reward scaling)
            }
        per_iter = env.num_envs * cfg.n_steps
        iterations = max(1, math.ceil(total_timesteps / per_iter))
        show = progress if progress_bar is None else progress_bar
        bar = progress_bar(
            total=iterations * per_iter, disable=not show, unit="step", desc="ppo imagined steps"
        )
        for it in range(iterations):
            lr = cfg.learning_rate * ((1.0 - it / iterations) if cfg.lr_schedule == "linear" else 1)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            batch, episodes = self._collect(mode)
            self.num_timesteps += per_iter
            stats = self._update(*batch, lr)
            done_sum, ret_sum, len_sum = episodes.tolist()
            if done_sum:
                stats["charts/episodic_return"] = ret_sum / done_sum
                stats["charts/episodic_length"] = len_sum / done_sum
                bar.set_postfix(ret=f"{ret_sum / done_sum:.1f}")
            stats["charts/learning_rate"] = lr
            if writer is not None:
                for key, value in stats.items():
                    writer.add_scalar(key, value, self.num_timesteps)
            bar.update(per_iter)
            if callback is not None and callback(self, stats) is False:
                break
        bar.close()
        if writer is not None:
            writer.flush()
        return self

    def _collect(self, mode: str) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
        """One rollout of n_steps; returns (obs, u, logp, val, adv, valid) and episode sums."""
        env, cfg, dev, s = self.env, self.config, self.device, self._state
        n, T = env.num_envs, cfg.n_steps
        obs_buf = torch.zeros(T, n, self.obs_dim, device=dev)  # (T, n, obs_dim) normalised
        u_buf = torch.zeros(T, n, self.act_dim, device=dev)  # (T, n, act_dim) raw samples
        logp_buf, val_buf, rew_buf = (torch.zeros(T, n, device=dev) for _ in range(3))
        done_buf, valid_buf = (torch.zeros(T, n, dtype=torch.bool, device=dev) for _ in range(2))
        sums = torch.zeros(3, device=dev)  # finished episodes, their returns, their lengths
        obs, pending = s["obs"], s["pending"]
        self.policy.eval()
        for t in range(T):
            if cfg.normalize_obs:  # every obs is a real one (NEXT_STEP: a final obs)
                self.obs_rms.update(obs)
            nobs = self._norm_obs(obs)
            with torch.no_grad():
                mean = self.policy.mean(nobs)  # (n, act_dim)
                noise = torch.randn(mean.shape, generator=self.generator, device=dev)
                u = mean + noise * self.policy.log_std.exp()  # (n, act_dim) raw sample
                logp, value = self.policy.log_prob(mean, u), self.policy.value(nobs)
            next_obs, reward, term, trunc, info = env.step_tensor(self._to_env(u))
            reward, term, trunc = reward.float(), term.bool(), trunc.bool()
            if mode == "next_step":  # the step after a done only resets: not a transition
                reward = torch.where(pending, 0.0, reward)
                term, trunc = term & ~pending, trunc & ~pending
            done = term | trunc
            s["ep_ret"] += reward
            s["ep_len"] += (~pending).float()
            r = reward
            if cfg.normalize_reward:
                s["disc_ret"] = s["disc_ret"] * cfg.gamma + reward
                self.ret_rms.update(s["disc_ret"])
                r = reward / (self.ret_rms.var + 1e-8).sqrt()
                s["disc_ret"] = torch.where(done, 0.0, s["disc_ret"])
            boot = trunc & ~term
            # On an accelerator, always evaluate (no host sync); on CPU only when needed.
            if dev.type != "cpu" or bool(boot.any()):
                with torch.no_grad():
                    final = self._norm_obs(self._final_obs(next_obs, info, mode))
                    r = r + cfg.gamma * torch.where(boot, self.policy.value(final), 0.0)
            obs_buf[t], u_buf[t], logp_buf[t], val_buf[t] = nobs, u, logp, value
            rew_buf[t], done_buf[t], valid_buf[t] = r, done, ~pending
            sums += torch.stack(
                [done.sum(), (done * s["ep_ret"]).sum(), (done * s["ep_len"]).sum()]
            )
            s["ep_ret"] = torch.where(done, 0.0, s["ep_ret"])
            s["ep_len"] = torch.where(done, 0.0, s["ep_len"])
            pending = done if mode == "next_step" else pending
            obs = next_obs
        s["obs"], s["pending"] = obs, pending
        with torch.no_grad():
            last_val = self.policy.value(self._norm_obs(obs))  # (n,)
        adv = self._gae(rew_buf, val_buf, done_buf, last_val)
        return (obs_buf, u_buf, logp_buf, val_buf, adv, valid_buf), sums

    def _gae(self, rew, val, done, last_val) -> torch.Tensor:  # all (T, n) -> (T, n)
        cfg, T = self.config, rew.shape[0]
        adv, last = torch.zeros_like(rew), torch.zeros_like(last_val)
        for t in reversed(range(T)):
            next_val = last_val if t == T - 1 else val[t + 1]
            nonterminal = (~done[t]).float()
            delta = rew[t] + cfg.gamma * next_val * nonterminal - val[t]
            last = delta + cfg.gamma * cfg.gae_lambda * nonterminal * last
            adv[t] = last
        return adv

    def _update(self, obs, u, logp, val, adv, valid, lr: float) -> dict[str, float]:
        cfg = self.config
        keep = valid.flatten().nonzero().squeeze(-1)  # indices of real transitions
        b_obs, b_u = obs.flatten(0, 1)[keep], u.flatten(0, 1)[keep]
        b_logp, b_val, b_adv = logp.flatten()[keep], val.flatten()[keep], adv.flatten()[keep]
        b_ret = b_adv + b_val
        size = b_obs.shape[0]
        self.policy.train()
        sums = torch.zeros(6, device=self.device)  # pg, vf, ent, kl, clipfrac, count
        stop = False
        for _ in range(cfg.n_epochs):
            perm = torch.randperm(size, device=self.device, generator=self.generator)
            for start in range(0, size, cfg.batch_size):
                mb = perm[start : start + cfg.batch_size]
                new_logp = self.policy.log_prob(self.policy.mean(b_obs[mb]), b_u[mb])
                entropy = self.policy.entropy()
                new_val = self.policy.value(b_obs[mb])
                log_ratio = new_logp - b_logp[mb]
                ratio = log_ratio.exp()
                a = b_adv[mb]
                if cfg.normalize_advantage and len(mb) > 1:
                    a = (a - a.mean()) / (a.std() + 1e-8)
                pg_loss = torch.max(
                    -a * ratio, -a * ratio.clamp(1 - cfg.clip_range, 1 + cfg.clip_range)
                ).mean()
                if cfg.clip_range_vf is not None:
                    c = cfg.clip_range_vf
                    new_val = b_val[mb] + (new_val - b_val[mb]).clamp(-c, c)
                vf_loss = (b_ret[mb] - new_val).square().mean()
                loss = pg_loss - cfg.ent_coef * entropy + cfg.vf_coef * vf_loss
                with torch.no_grad():
                    approx_kl = ((ratio - 1) - log_ratio).mean()
                    clipfrac = ((ratio - 1).abs() > cfg.clip_range).float().mean()
                    one = torch.ones((), device=self.device)
                    sums += torch.stack([pg_loss, vf_loss, entropy, approx_kl, clipfrac, one])
                # As SB3: past 1.5 x target_kl, stop before this minibatch's step (one sync).
                if cfg.target_kl is not None and float(approx_kl) > 1.5 * cfg.target_kl:
                    stop = True
                    break
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(self.policy.parameters(), cfg.max_grad_norm)
                self.optimizer.step()
            if stop:
                break
        pg, vf, ent, kl, cf, count = (sums / sums[5].clamp(min=1)).tolist()
        var_y = b_ret.var()
        explained = float(1 - (b_ret - b_val).var() / var_y) if float(var_y) > 0 else float("nan")
        return {
            "losses/policy_loss": pg,
            "losses/value_loss": vf,
            "losses/entropy": ent,
            "losses/approx_kl": kl,
            "losses/clipfrac": cf,
            "losses/explained_variance": explained,
            "charts/std": float(self.policy.log_std.detach().exp().mean()),
        }

    # -- inference -----------------------------------------------------------------------------
    def predict(
        self,
        observation: Any,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = True,
    ) -> tuple[Any, None]:
        """SB3-style: numpy in -> numpy out, tensor in -> tensor out; (obs_dim,) or (b, obs_dim)."""
        is_tensor = isinstance(observation, torch.Tensor)
        obs = torch.as_tensor(observation, dtype=torch.float32, device=self.device)
        single = obs.dim() == 1
        if obs.shape[-1] != self.obs_dim:
            raise ValueError(
                f"observation has {obs.shape[-1]} features, agent expects {self.obs_dim}"
            )
        with torch.no_grad():
            u = self.policy.mean(self._norm_obs(obs.reshape(-1, self.obs_dim)))  # (b, act_dim)
            if not deterministic:
                u = u + torch.randn_like(u) * self.policy.log_std.exp()
            action = self._to_env(u)  # (b, act_dim)
        action = action[0] if single else action
        return (action if is_tensor else action.cpu().numpy()), None

    def save(self, path: str | Path) -> Path:
        """Write the folder `path` (see `genenv.agents.ppo_io.save_ppo`)."""
        from genenv.agents.ppo_io import save_ppo

        return save_ppo(self, path)

    @classmethod
    def load(cls, path: str | Path, env: Any = None, device: str | None = None) -> OnDevicePPO:
        """Load an agent saved by `save` (no unpickling); pass `env` to continue training."""
        from genenv.agents.ppo_io import load_ppo

        return load_ppo(cls, path, env, device)
