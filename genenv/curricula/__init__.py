"""genenv.curricula: world schedules of the one loop (`genenv.curricula.schedule`: fixed, uniform
DR, robust PLR, ACCEL): a level buffer with Prioritized Level Replay, ACCEL-style world mutations,
scores from regret gated by world-model uncertainty, the SB3 callback that gives each dream env
slot its world per episode, and held-out worlds outside the training ranges
(`genenv.curricula.heldout`). Specs users edit live in the repo's curricula/ folder."""

from genenv.curricula.buffer import Level, LevelBuffer, PLRConfig, Provenance
from genenv.curricula.curriculum import Assignment, Curriculum, FixedSampler, UniformSampler
from genenv.curricula.generator import GeneratorConfig, LevelGenerator
from genenv.curricula.scoring import EpisodeStats, ScoringConfig, score_episode
from genenv.curricula.spec import CurriculumSpec, load_spec, spec_from_dict

__all__ = [
    "Assignment",
    "Curriculum",
    "CurriculumSpec",
    "EpisodeStats",
    "FixedSampler",
    "GeneratorConfig",
    "Level",
    "LevelBuffer",
    "LevelGenerator",
    "PLRConfig",
    "Provenance",
    "ScoringConfig",
    "UniformSampler",
    "load_spec",
    "score_episode",
    "spec_from_dict",
]
