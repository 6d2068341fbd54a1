"""A JEPA-style latent world model learned from frames (the "latent" kind).

- `encoder`: a small conv net e from ONE frame (H x W x 3, uint8) to a pose latent (latent_dim / 2).
  The state is z = [e(current frame), e(previous frame), previous action]: two frames give the
  velocity only up to the push of the last action (a second-order system moves by it within the
  step), so z also holds that action (`previous_action`, on by default), which makes z Markov.
  The first part, the pose, reads the current frame alone. A single image (an image prompt, a
  goal image) is [e(image), e(image), 0], "this pose, at rest", and a goal image compares with a
  state's pose exactly (`pose`). (Checkpoints from before `LatentConfig.encoder` read the
  6-channel pair with one conv net, "stack", whose whole z is the pose; those from before
  `previous_action` have no action in z.) With `encoder_head="keypoints"` the pose is the image
  coordinates of learned points (`KeypointEncoder`), so pose distances are image distances.
- `predictors`: K action-conditioned MLPs that predict the next pose, e(next frame) = pose +
  f_k(z, a, context), evaluated together as batched matrix products; the next state is [that, the
  current pose, a]. They are trained in latent space against an EMA target encoder (see
  `latent_train`); their spread is the model's uncertainty.
- `reward_head` r(z, a) and `termination_head` on z'.
- `inverse_head` (frames part of z, of z') -> a, an inverse-dynamics head used only in training:
  it keeps what the actions change in the latent (without it a predictor can ignore the actions
  on random data). It reads no action part, which would hand it the answer.
- `decoder`: a deconv net (frames part of z) -> the newest frame, trained on detached latents
  only, used only to draw the dream (and the `obs_type="pixels"` dream env).

The state of an imagined world is z: `initial` draws encoded real starts, `step` is one latent
step (mean of the predictors), `render` decodes z to uint8 frames, `encode` maps frames to z.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from genenv.models.base import ModelStep, draw_initial
from genenv.models.ensemble import EnsembleLinear, Normaliser
from genenv.worlds.cameras import PIXEL_SIZES


@dataclass
class LatentConfig:
    """Architecture of the latent pixel model."""

    image_size: int = 64  # frames are image_size x image_size RGB (16, 32, 64 or 128)
    latent_dim: int = 32  # size of the frames' part of z (z also holds the previous action)
    channels: int = 16  # width of the first conv layer (doubles every 2 layers, at most 4x)
    hidden_size: int = 256  # width of the predictor / head MLPs
    num_predictors: int = 3  # predictor ensemble size (uncertainty = their disagreement)
    encoder: str = "frames"  # "frames": z = [e(current), e(previous)]; "stack": e(pair) (old)
    decoder_output: str = "linear"  # "tanh" (old) saturates on a black background and stalls
    previous_action: bool = True  # z ends with the previous action (two frames alone: not Markov)
    # How a frame becomes its pose: "conv" (conv net to 4x4, then a linear layer) or "keypoints"
    # (spatial softmax: the image coordinates of pose_dim / 2 learned points, `KeypointEncoder`)
    encoder_head: str = "conv"

    @property
    def pose_dim(self) -> int:
        """Size of the part of z that reads the current frame alone (what a goal compares)."""
        return self.latent_dim // 2 if self.encoder == "frames" else self.latent_dim

    def __post_init__(self) -> None:
        if self.decoder_output not in ("linear", "tanh"):
            raise ValueError(
                f"decoder_output must be 'linear' or 'tanh', got {self.decoder_output!r}"
            )
        if self.encoder not in ("frames", "stack"):
            raise ValueError(f"encoder must be 'frames' or 'stack', got {self.encoder!r}")
        if self.encoder == "frames" and self.latent_dim % 2:
            raise ValueError(f"latent_dim must be even (two frames), got {self.latent_dim}")
        if self.encoder_head not in ("conv", "keypoints"):
            raise ValueError(
                f"encoder_head must be 'conv' or 'keypoints', got {self.encoder_head!r}"
            )
        if self.encoder_head == "keypoints" and (self.encoder != "frames" or self.pose_dim % 2):
            raise ValueError(
                "encoder_head 'keypoints' needs encoder 'frames' and latent_dim divisible by 4 "
                f"(an (x, y) pair per point in each frame's half), got {self.latent_dim}"
            )
        if self.image_size not in PIXEL_SIZES:
            raise ValueError(f"image_size must be one of {PIXEL_SIZES}, got {self.image_size}")
        if self.num_predictors < 1 or self.latent_dim < 2:
            raise ValueError("need num_predictors >= 1 and latent_dim >= 2")


def _conv_widths(cfg: LatentConfig) -> list[int]:
    layers = {16: 2, 32: 3, 64: 4, 128: 5}[cfg.image_size]  # stride-2 convs down to 4x4
    return [min(cfg.channels * 2 ** (i // 2), cfg.channels * 4) for i in range(layers)]


class Encoder(nn.Module):
    """ "frames": (n, H, W, 3) uint8 frames -> (n, pose_dim); "stack": (n, 2, H, W, 3) -> (n, D)."""

    def __init__(self, cfg: LatentConfig):
        super().__init__()
        self.frames = 1 if cfg.encoder == "frames" else 2
        widths, layers, c_in = _conv_widths(cfg), [], 3 * self.frames
        for w in widths:
            layers += [nn.Conv2d(c_in, w, 4, stride=2, padding=1), nn.GroupNorm(1, w), nn.SiLU()]
            c_in = w
        self.convs = nn.Sequential(*layers)
        self.out = nn.Linear(c_in * 16, cfg.pose_dim)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        n, h, w = images.shape[0], images.shape[-3], images.shape[-2]
        x = images.reshape(n, -1, h, w, 3).permute(0, 1, 4, 2, 3)  # (n, frames, 3, H, W)
        x = x.reshape(n, 3 * self.frames, h, w).float() / 127.5 - 1.0
        return self.out(self.convs(x).flatten(1))  # (n, pose_dim)


KEYPOINT_SCALE = 3.0  # keypoint coordinates span [-3, 3] across the frame


class KeypointEncoder(nn.Module):
    """(n, H, W, 3) uint8 frames -> (n, pose_dim): the image coordinates (x, y) of pose_dim / 2
    learned keypoints. Each point is the expected position under a softmax over one feature map
    (spatial softmax, as in deep spatial autoencoders for visuomotor learning), so the pose moves
    as the bodies move in the image and the distance of two poses is a distance in the image: a
    goal image's pose is a target a planner can descend to. Coordinates are in [-KEYPOINT_SCALE,
    KEYPOINT_SCALE] across the frame, so VICReg's unit-std hinge is met by a point whose position
    spreads with a std of a sixth of the frame's width: reachable, where [-1, 1] would not be."""

    def __init__(self, cfg: LatentConfig):
        super().__init__()
        downs = {16: 1, 32: 1, 64: 2, 128: 3}[cfg.image_size]  # stride-2 convs to a 8-16 map
        c, layers, c_in = cfg.channels, [], 3
        for i in range(downs):
            w = c * 2 ** min(i, 1)
            layers += [nn.Conv2d(c_in, w, 4, stride=2, padding=1), nn.GroupNorm(1, w), nn.SiLU()]
            c_in = w
        layers += [nn.Conv2d(c_in, c_in, 3, padding=1), nn.GroupNorm(1, c_in), nn.SiLU()]
        self.convs = nn.Sequential(*layers, nn.Conv2d(c_in, cfg.pose_dim // 2, 1))
        side = cfg.image_size // 2**downs
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, side), torch.linspace(-1, 1, side),
                                indexing="ij")  # fmt: skip
        self.register_buffer("grid", torch.stack([xs.flatten(), ys.flatten()], -1))  # (hw, 2)
        self.log_temperature = nn.Parameter(torch.zeros(()))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.permute(0, 3, 1, 2).float() / 127.5 - 1.0  # (n, 3, H, W)
        maps = self.convs(x).flatten(2)  # (n, K, hw)
        attn = torch.softmax(maps / self.log_temperature.exp(), dim=-1)
        points = attn @ self.grid  # (n, K, 2) expected (x, y) in [-1, 1]
        return KEYPOINT_SCALE * points.flatten(1)  # (n, pose_dim)


class Decoder(nn.Module):
    """(n, latent_dim) -> (n, 3, H, W) the newest frame, pixels scaled to [-1, 1] ("linear": not
    squashed, so a mostly black frame (-1) does not saturate the output and stall its gradients;
    `render` clamps)."""

    def __init__(self, cfg: LatentConfig):
        super().__init__()
        widths = _conv_widths(cfg)[::-1]
        self.first = widths[0]
        self.inp = nn.Linear(cfg.latent_dim, widths[0] * 16)
        layers = []
        for w_in, w_out in zip(widths, [*widths[1:], cfg.channels], strict=True):
            layers += [nn.ConvTranspose2d(w_in, w_out, 4, stride=2, padding=1), nn.SiLU()]
        self.deconvs = nn.Sequential(*layers, nn.Conv2d(cfg.channels, 3, 3, padding=1))
        self.tanh = cfg.decoder_output == "tanh"

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.deconvs(self.inp(z).view(-1, self.first, 4, 4))  # (n, 3, H, W)
        return torch.tanh(x) if self.tanh else x


class Predictors(nn.Module):
    """K MLPs: features of (z, a, ctx) -> every member's change of the pose, (K, n, pose_dim)."""

    def __init__(self, k: int, in_dim: int, hidden: int, pose_dim: int):
        super().__init__()
        self.k = k
        self.layers = nn.ModuleList(
            [EnsembleLinear(k, in_dim, hidden), EnsembleLinear(k, hidden, hidden)]
        )
        self.out = EnsembleLinear(k, hidden, pose_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.unsqueeze(0).expand(self.k, -1, -1) if x.dim() == 2 else x  # (K, n, in)
        for layer in self.layers:
            h = F.silu(layer(h))
        return self.out(h)  # (K, n, pose_dim)


def _mlp(in_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(in_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
        nn.Linear(hidden, out_dim),
    )  # fmt: skip


class LatentWorldModel(nn.Module):
    """Encoder, latent predictors, reward/termination heads, decoder, and real start latents."""

    def __init__(
        self,
        task: str,
        act_dim: int,
        ctx_dim: int,
        config: LatentConfig | None = None,
        action_low: float | list[float] = -1.0,
        action_high: float | list[float] = 1.0,
    ):
        super().__init__()
        self.config = cfg = config or LatentConfig()
        self.task, self.act_dim, self.ctx_dim = task, act_dim, ctx_dim
        L = cfg.latent_dim  # the frames' part of z
        # the imagined world's state is z: (frames' part, previous action)
        self.obs_dim = D = L + (act_dim if cfg.previous_action else 0)
        self.encoder = KeypointEncoder(cfg) if cfg.encoder_head == "keypoints" else Encoder(cfg)
        P = cfg.pose_dim
        self.predictors = Predictors(cfg.num_predictors, D + act_dim + ctx_dim, cfg.hidden_size, P)
        self.reward_head = _mlp(D + act_dim + ctx_dim, cfg.hidden_size, 1)
        self.termination_head = _mlp(D + ctx_dim, cfg.hidden_size, 1)
        self.inverse_head = _mlp(2 * L, cfg.hidden_size, act_dim)
        self.decoder = Decoder(cfg)
        self.ctx_norm = Normaliser(ctx_dim)
        self.register_buffer("action_low", torch.as_tensor(action_low, dtype=torch.float32))
        self.register_buffer("action_high", torch.as_tensor(action_high, dtype=torch.float32))
        self.register_buffer("start_obs", torch.zeros(1, D))  # (k, D) encoded real starts
        self.register_buffer("real_obs", torch.zeros(1, D))  # (m, D) encoded real states
        # A linear probe z -> true MuJoCo state (fit after training; measures, never trains z)
        self.register_buffer("probe_weight", torch.zeros(D, 1))  # (D, state_dim)
        self.register_buffer("probe_bias", torch.zeros(1))  # (state_dim,)
        # Largest prompt_score of a frame this world can read (held-out real frames, with margin)
        self.register_buffer("prompt_limit", torch.tensor(float("inf")))

    @property
    def device(self) -> torch.device:
        return self.action_low.device

    # -- pieces used by training and the verbs ---------------------------------------------------
    def features(self, z: torch.Tensor, action: torch.Tensor, context: torch.Tensor):
        return torch.cat([z, action, self.ctx_norm(context)], dim=-1)  # (n, D+act+ctx)

    def pose(self, z: torch.Tensor) -> torch.Tensor:
        """(..., pose_dim) the part of latents (..., D) that reads the current frame alone."""
        return z[..., : self.config.pose_dim]

    def frames_part(self, z: torch.Tensor) -> torch.Tensor:
        """(..., latent_dim) the part of latents (..., D) read from frames (not the action)."""
        return z[..., : self.config.latent_dim]

    def embed(self, stacks: torch.Tensor, previous_action: torch.Tensor | None = None):
        """(n, 2, H, W, 3) uint8 stacks [previous, current] and the (n, act_dim) actions taken
        between them (None: zeros, at rest) -> (n, D) latents (with gradients)."""
        if self.config.encoder == "stack":
            z = self.encoder(stacks)
        else:
            e = self.encoder(stacks.flatten(0, 1)).view(len(stacks), 2, -1)  # (n, 2, pose_dim)
            z = torch.cat([e[:, 1], e[:, 0]], dim=-1)  # [current, previous]
        return self.with_action(z, previous_action)

    def with_action(self, frames_z: torch.Tensor, action: torch.Tensor | None) -> torch.Tensor:
        """(..., D) latents from their frames' part (..., latent_dim) and the previous action."""
        if not self.config.previous_action:
            return frames_z
        if action is None:
            return torch.cat([frames_z, frames_z.new_zeros(*frames_z.shape[:-1], self.act_dim)], -1)
        return torch.cat([frames_z, action.to(frames_z).expand(*frames_z.shape[:-1], -1)], -1)

    def next_latent(self, next_pose: torch.Tensor, z: torch.Tensor, action: torch.Tensor):
        """(..., n, D) the state after z (n, D) and action (n, act_dim) whose new pose is
        next_pose (..., n, pose_dim)."""
        if self.config.encoder == "stack":
            return self.with_action(next_pose, action)
        frames_z = torch.cat([next_pose, self.pose(z).expand_as(next_pose)], dim=-1)
        return self.with_action(frames_z, action)

    def predict_all(self, z: torch.Tensor, action: torch.Tensor, context: torch.Tensor):
        """(K, n, D) every predictor's next latent."""
        delta = self.predictors(self.features(z, action, context))  # (K, n, pose_dim)
        return self.next_latent(self.pose(z) + delta, z, action)

    def reward(self, z: torch.Tensor, action: torch.Tensor, context: torch.Tensor):
        return self.reward_head(self.features(z, action, context)).squeeze(-1)  # (n,)

    def termination_logit(self, z_next: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        return self.termination_head(torch.cat([z_next, self.ctx_norm(context)], -1)).squeeze(-1)

    # -- the WorldModel verbs ------------------------------------------------------------------
    def initial(
        self, n: int, generator: torch.Generator | None = None, source: str = "starts"
    ) -> torch.Tensor:
        return draw_initial(self.start_obs, self.real_obs, n, generator, source)  # (n, D)

    @torch.no_grad()
    def step(
        self,
        obs: torch.Tensor,  # (n, D) latents
        action: torch.Tensor,  # (n, act_dim)
        context: torch.Tensor,  # (n, ctx_dim)
        generator: torch.Generator | None = None,
    ) -> ModelStep:
        """One latent step. With a `generator`, each slot takes one randomly drawn predictor's
        next latent (trajectory sampling, as the state ensemble does): the dream is as unsure as
        its predictors, so an agent cannot settle on one predictor's mistake. Without, the
        predictors' mean (deterministic)."""
        preds = self.predict_all(obs, action, context)  # (K, n, D)
        if generator is None:
            z_next = preds.mean(0)  # (n, D)
        else:
            n = obs.shape[0]
            pick = torch.randint(len(preds), (n,), generator=generator, device=obs.device)
            z_next = preds[pick, torch.arange(n, device=obs.device)]  # (n, D)
        uncertainty = self.pose(preds).std(0, unbiased=False).mean(-1)  # (n,) (the rest is shifted)
        reward = self.reward(obs, action, context)  # (n,)
        terminated = self.termination_logit(z_next, context) > 0.0
        finite = torch.isfinite(z_next).all(-1) & torch.isfinite(reward)
        z_next = torch.where(finite[:, None], z_next, torch.zeros_like(z_next))
        reward = torch.where(finite, reward, torch.zeros_like(reward))
        return ModelStep(z_next, reward, terminated, uncertainty, finite)

    @torch.no_grad()
    def render(self, z: torch.Tensor) -> torch.Tensor:
        """(n, D) latents -> (n, H, W, 3) uint8 decoded frames."""
        x = self.decoder(self.frames_part(z))  # (n, 3, H, W) in [-1, 1]
        return ((x.permute(0, 2, 3, 1) + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8)

    @torch.no_grad()
    def probe_state(self, z: torch.Tensor) -> torch.Tensor:
        """(n, D) latents -> (n, state_dim) the linear probe's estimate of the true state."""
        return z @ self.probe_weight + self.probe_bias

    @torch.no_grad()
    def prompt_score(self, frames: torch.Tensor) -> torch.Tensor:
        """(n,) how badly the model redraws single frames (n, H, W, 3): the mean squared error
        (in [0, 1] pixel units) of render(encode(frame)). Frames of another task, or not of the
        task's camera, score far above `prompt_limit`."""
        frames = torch.as_tensor(frames, device=self.device)
        redrawn = self.render(self.encode(frames)).float()
        return ((redrawn - frames.float()) / 255.0).pow(2).flatten(1).mean(1)

    @torch.no_grad()
    def encode(self, frames: torch.Tensor, previous_action: torch.Tensor | None = None):
        """Frames -> (n, D) latents: (n, 2, H, W, 3) stacks [previous, current], or (n, H, W, 3)
        single frames (encoded as a pose at rest: the frame stacked with itself).
        `previous_action`: (n, act_dim) the actions taken between the two frames (None: zeros)."""
        frames = torch.as_tensor(frames, device=self.device)
        if previous_action is not None:
            previous_action = torch.as_tensor(
                previous_action, dtype=torch.float32, device=self.device
            ).reshape(len(frames), self.act_dim)
        if frames.dim() == 4:
            frames = frames.unsqueeze(1).expand(-1, 2, -1, -1, -1)
        s = self.config.image_size
        if frames.dim() != 5 or tuple(frames.shape[1:]) != (2, s, s, 3):
            raise ValueError(
                f"this {self.task} pixel world reads {s}x{s} RGB frames, got {tuple(frames.shape)}"
            )
        out = []
        for i in range(0, frames.shape[0], 1024):
            a = None if previous_action is None else previous_action[i : i + 1024]
            out.append(self.embed(frames[i : i + 1024], a))
        return torch.cat(out)  # (n, D)
