"""Curriculum: PLR buffer, ACCEL generator, scoring, specs, and the dream-env integration."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from genenv.curricula.buffer import (
    LevelBuffer,
    PLRConfig,
    Provenance,
    rank_weights,
    staleness_weights,
)
from genenv.curricula.curriculum import Curriculum, FixedSampler, UniformSampler
from genenv.curricula.generator import GeneratorConfig, LevelGenerator
from genenv.curricula.scoring import (
    WORST_SCORE,
    EpisodeStats,
    ScoringConfig,
    gae,
    score_episode,
)
from genenv.curricula.spec import load_spec, spec_from_dict
from genenv.worlds.spec import WorldSpec
from genenv.worlds.tasks import get_task

REPO = Path(__file__).resolve().parents[1]
TASK = "InvertedPendulum"


def _spec(**ctx: float) -> WorldSpec:
    return WorldSpec(TASK, ctx)


def _buffer_with(scores, last_sampled, count, temperature=0.5, rho=0.3) -> LevelBuffer:
    buf = LevelBuffer(PLRConfig(temperature=temperature, staleness_coef=rho, capacity=10))
    for i, s in enumerate(scores):
        buf.add(_spec(gravity=5.0 + i), Provenance("random"), score=s)
    for level, c in zip(buf.levels.values(), last_sampled, strict=True):
        level.last_sampled = c
    buf.episode_count = count
    return buf


# -- the replay distribution, by hand -----------------------------------------------------------
def test_replay_distribution_matches_hand_computed_weights():
    # scores 0.5, 2.0, 1.0 -> ranks 3, 1, 2; beta = 0.5 -> rank^-2 = 1/9, 1, 1/4 (sum 49/36)
    # P_score = 4/49, 36/49, 9/49.  c = 10, C = 2, 10, 5 -> staleness 8, 0, 5 (sum 13)
    # P_stale = 8/13, 0, 5/13.  P = 0.7 P_score + 0.3 P_stale
    buf = _buffer_with([0.5, 2.0, 1.0], [2, 10, 5], count=10)
    ids, probs = buf.replay_distribution()
    expected = [
        0.7 * 4 / 49 + 0.3 * 8 / 13,  # 0.241758...
        0.7 * 36 / 49 + 0.3 * 0 / 13,  # 0.514285...
        0.7 * 9 / 49 + 0.3 * 5 / 13,  # 0.243956...
    ]
    assert ids.tolist() == [0, 1, 2]
    np.testing.assert_allclose(probs, expected, rtol=1e-12)
    np.testing.assert_allclose(probs, [0.2417582, 0.5142857, 0.2439560], atol=1e-7)


def test_ranks_are_the_inverse_permutation_of_the_sort():
    # argsort(-scores) = [1, 2, 0] is the order; the ranks are [3, 1, 2]. beta = 1 -> 1/rank.
    p = rank_weights(np.array([0.5, 2.0, 1.0]), temperature=1.0)
    total = 1 / 3 + 1 + 1 / 2
    np.testing.assert_allclose(p, [(1 / 3) / total, 1 / total, (1 / 2) / total])
    # Batched (column) scores are refused rather than ranked along the wrong axis.
    with pytest.raises(ValueError, match="1-D"):
        rank_weights(np.array([[0.5], [2.0], [1.0]]), temperature=1.0)


def test_temperature_is_a_power_not_a_division():
    # A division by the temperature would normalise away; a power changes the distribution.
    p_half = rank_weights(np.array([3.0, 2.0, 1.0]), temperature=0.5)  # 1, 1/4, 1/9
    p_quarter = rank_weights(np.array([3.0, 2.0, 1.0]), temperature=0.25)  # 1, 1/16, 1/81
    np.testing.assert_allclose(p_half, np.array([36, 9, 4]) / 49)
    np.testing.assert_allclose(p_quarter, np.array([1296, 81, 16]) / 1393)


def test_weights_never_divide_by_zero():
    # Every level sampled at the current count: staleness all zero -> uniform, not 0/0.
    np.testing.assert_allclose(staleness_weights(np.array([4, 4, 4]), 4), [1 / 3] * 3)
    buf = _buffer_with([1.0, 1.0, 1.0], [7, 7, 7], count=7, rho=1.0)
    _, probs = buf.replay_distribution()
    assert np.isfinite(probs).all()
    np.testing.assert_allclose(probs, [1 / 3] * 3)
    # Equal scores: ranks by insertion order, still finite and normalised.
    _, probs = _buffer_with([0.0, 0.0], [0, 0], count=0, temperature=0.1).replay_distribution()
    assert np.isfinite(probs).all() and math.isclose(probs.sum(), 1.0)
    # An empty buffer is a clear error, and non-finite scores never enter.
    with pytest.raises(ValueError, match="empty"):
        LevelBuffer().replay_distribution()
    with pytest.raises(ValueError, match="finite"):
        LevelBuffer().add(_spec(), Provenance("random"), score=float("nan"))
    # A diverged episode scores the worst finite value instead of NaN.
    bad = EpisodeStats(float("nan"), 10, 0.1, positive_advantage=float("nan"), mean_value=0.0)
    assert score_episode(bad, ScoringConfig()) == WORST_SCORE


def test_sampling_updates_staleness_and_follows_distribution():
    buf = _buffer_with([0.5, 2.0, 1.0], [0, 0, 0], count=0, temperature=0.3)
    level = buf.sample()
    assert buf.episode_count == 1 and level.last_sampled == 1
    counts = np.zeros(3)
    for _ in range(3000):
        ids, probs = buf.replay_distribution()
        counts[buf.sample().id] += 1
    assert counts[1] > counts[2] > 0 and counts[1] > counts[0]


def test_capacity_evicts_lowest_and_rejects_weaker():
    buf = LevelBuffer(PLRConfig(capacity=2))
    a = buf.add(_spec(gravity=5.0), Provenance("random"), 1.0)
    buf.add(_spec(gravity=6.0), Provenance("random"), 3.0)
    assert buf.add(_spec(gravity=7.0), Provenance("random"), 0.5) is None  # below the lowest
    c = buf.add(_spec(gravity=8.0), Provenance("random"), 2.0)
    assert c is not None and a.id not in buf and len(buf) == 2 and buf.evicted == 1


def test_buffer_checkpoint_resumes_losing_nothing(tmp_path):
    buf = LevelBuffer(PLRConfig(capacity=8, temperature=0.2), seed=3)
    for i in range(6):
        level = buf.add(_spec(gravity=4.0 + i), Provenance("prompt", prompt=f"p{i}"), score=i)
        buf.update(level.id, score=i * 0.5, episode_return=10.0 * i)
    child = buf.add(
        _spec(gravity=4.5),
        Provenance("mutation", parent=0, mutation={"gravity": (4.0, 4.5)}),
        score=9.0,
    )
    for _ in range(5):
        buf.sample()
    path = tmp_path / "buffer.json"
    buf.save(path)
    back = LevelBuffer.load(path)
    assert back.state_dict() == json.loads(json.dumps(buf.state_dict()))
    assert back[child.id].provenance.mutation == {"gravity": (4.0, 4.5)}
    assert back[child.id].spec == child.spec
    # The resumed random stream continues exactly where the original would have.
    assert [back.sample().id for _ in range(10)] == [buf.sample().id for _ in range(10)]
    assert not list(tmp_path.glob(".*tmp"))  # atomic write leaves no temporary file


# -- generator -------------------------------------------------------------------------------------
def test_mutations_stay_in_range_and_record_provenance():
    cfg = GeneratorConfig(TASK, mutation_steps={"gravity": 20.0, "length_scale": 5.0}, edits=5)
    gen = LevelGenerator(cfg, np.random.default_rng(0))
    buf = LevelBuffer()
    parent = buf.add(_spec(gravity=15.5, length_scale=1.4), Provenance("prompt", prompt="moon"))
    ranges = get_task(TASK).train_ranges
    for _ in range(200):
        spec, prov = gen.mutate(parent)
        for name, (low, high) in ranges.items():
            assert low <= getattr(spec.context, name) <= high
        assert prov.source == "mutation" and prov.parent == parent.id and prov.prompt == "moon"
        assert set(prov.mutation) <= {"gravity", "length_scale"}
        for name, (old, new) in prov.mutation.items():
            assert old == getattr(parent.spec.context, name)
            assert new == getattr(spec.context, name)
    random_spec, prov = gen.random_level()
    assert prov.source == "random"
    for name, (low, high) in ranges.items():
        assert low <= getattr(random_spec.context, name) <= high


def test_generator_config_errors():
    with pytest.raises(ValueError, match="valid range"):
        GeneratorConfig(TASK, ranges={"gravity": (1.0, 99.0)})
    with pytest.raises(ValueError, match="has no range"):
        GeneratorConfig(TASK, ranges={"gravity": (5.0, 10.0)}, mutation_steps={"mass_scale": 0.1})
    with pytest.raises(ValueError, match="geometric"):
        GeneratorConfig("Hopper", ranges={"length_scale": (0.8, 1.2)})


# -- scoring ---------------------------------------------------------------------------------------
def test_gae_and_scores_by_hand():
    # r = 1, 1; V = 0.5, 0.5; terminated (last value 0); gamma = 0.5, lambda = 1
    # delta_1 = 1 + 0 - 0.5 = 0.5; delta_0 = 1 + 0.25 - 0.5 = 0.75; A_0 = 0.75 + 0.5*0.5 = 1.0
    np.testing.assert_allclose(gae(np.ones(2), np.full(2, 0.5), 0.0, 0.5, 1.0), [1.0, 0.5])
    stats = EpisodeStats(10.0, 5, uncertainty=0.5, positive_advantage=2.0, mean_value=4.0)
    assert score_episode(stats, ScoringConfig("pvl", "gate", 2.0)) == pytest.approx(2 * math.e**-1)
    assert score_episode(stats, ScoringConfig("pvl", "subtract", 2.0)) == pytest.approx(1.0)
    assert score_episode(stats, ScoringConfig("maxmc", "subtract", 0.0), best_return=12.0) == 8.0
    lp = ScoringConfig("learning_progress", "gate", 0.0)
    assert score_episode(stats, lp, previous_return=13.0) == 3.0
    # More model uncertainty never raises a score (gate works for negative regret too).
    for kind, r in [("maxmc", -3.0), ("maxmc", 3.0)]:
        s = [
            score_episode(EpisodeStats(r, 1, u, mean_value=0.0), ScoringConfig(kind, "gate", 1.0))
            for u in (0.0, 0.5, 2.0)
        ]
        assert s[0] > s[1] > s[2]


# -- the curriculum --------------------------------------------------------------------------------
def test_curriculum_seeds_replay_mutate_and_provenance(tmp_path):
    seeds = [
        (_spec(gravity=1.62 + 3), Provenance("prompt", prompt="on the moon")),
        (_spec(mass_scale=2.0), Provenance("image", prompt="heavy.png")),
    ]
    cur = Curriculum(
        PLRConfig(capacity=6, replay_prob=0.5),
        GeneratorConfig(TASK, mutation_prob=1.0),
        ScoringConfig("learning_progress", kappa=0.0),
        seed=1,
        seeds=seeds,
    )
    a = cur.next()
    assert a.kind == "seed" and a.provenance.prompt == "on the moon"
    cur.record(a, EpisodeStats(50.0, 50, 0.0))
    b = cur.next()
    cur.record(b, EpisodeStats(10.0, 10, 0.0))
    assert [lv.provenance.source for lv in cur.buffer.levels.values()] == ["prompt", "image"]
    kinds = set()
    for i in range(60):
        a = cur.next()
        kinds.add(a.kind)
        cur.record(a, EpisodeStats(float(i % 7) * 10, 10, 0.0))
        if a.kind == "new":
            assert a.provenance.source == "mutation" and a.provenance.parent is not None
    assert kinds == {"replay", "new"} and len(cur.buffer) == 6
    assert cur.counts["accepted"] + cur.counts["rejected"] == cur.counts["new"] + 2
    path = tmp_path / "cur.json"
    cur.save(path)
    # Configs come from the spec; the checkpoint holds the state (buffer, rng, queue, counts).
    other = Curriculum(PLRConfig(), cur.generator.config, cur.scoring, seed=99)
    other.load(path)
    assert other.state_dict() == json.loads(json.dumps(cur.state_dict()))
    assert [other.next().spec for _ in range(5)] == [cur.next().spec for _ in range(5)]


def test_baseline_samplers():
    uni = UniformSampler(GeneratorConfig(TASK), seed=0)
    specs = {uni.next().spec for _ in range(5)}
    assert len(specs) == 5
    fixed = FixedSampler(WorldSpec(TASK))
    assert fixed.next().spec.context.is_default()


# -- specs -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["InvertedPendulum", "HalfCheetah"])
def test_shipped_specs_load(name):
    spec = load_spec(REPO / "curricula" / f"{name}.yaml")
    assert spec.task == name and spec.eval.worlds
    spec.generator_config()


@pytest.mark.parametrize(
    "data, message",
    [
        ({"task": "Pong"}, "unknown task"),
        ({"task": TASK, "bogus": 1}, "unknown top-level key"),
        ({"task": TASK, "plr": {"temprature": 0.3}}, "unknown key.*temprature"),
        ({"task": TASK, "plr": {"temperature": 0.0}}, "temperature must be > 0"),
        ({"task": TASK, "plr": {"replay_prob": 1.5}}, "replay_prob"),
        ({"task": TASK, "scoring": {"kind": "regret!"}}, "unknown kind"),
        ({"task": TASK, "scoring": {"kappa": -1}}, "kappa"),
        ({"task": TASK, "ranges": {"gravity": [0.0, 80.0]}}, "valid range"),
        ({"task": TASK, "ranges": {"wind": [0.0, 1.0]}}, "unknown context field"),
        ({"task": TASK, "mutation": {"edits": 0}}, "edits"),
        ({"task": TASK, "agent": {"recipe": "sac"}}, "learning_progress"),
        ({"task": TASK, "agent": {"recipe": "nope"}}, "recipe .nope. not found"),
        ({"task": TASK, "budget": {"imagined_steps": 0}}, "imagined_steps"),
        ({"task": TASK, "seeds": {"images": ["/no/such.png"]}}, "no such file"),
        ({"task": TASK, "eval": {"worlds": [{"context": {"gravity": 99}}]}}, "eval.worlds"),
    ],
)
def test_bad_specs_give_clear_errors(data, message):
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        spec_from_dict(data)


# -- integration with the dream env and SB3 --------------------------------------------------------
def _tiny_world():
    import torch

    from genenv.models.ensemble import EnsembleConfig, EnsembleWorldModel

    torch.manual_seed(0)
    model = EnsembleWorldModel(TASK, 4, 1, 6, EnsembleConfig(3, 2, 16, 1), -3.0, 3.0)
    model.start_obs = torch.randn(8, 4) * 0.01
    model.real_obs = torch.randn(8, 4) * 0.01
    return model


def _curriculum_spec(**overrides):
    data = {
        "task": TASK,
        "seeds": {"prompts": [], "random": 2, "default": True},
        "plr": {"capacity": 64, "replay_prob": 0.5, "min_replay_levels": 2},
        "agent": {"n_envs": 4, "horizon": 5, "hyperparams": {"n_steps": 16, "batch_size": 32}},
        "budget": {"imagined_steps": 128, "iterations": 2, "transfer_episodes": 0},
        "eval": {"episodes": 1, "worlds": [{"context": {"gravity": 12.0}}]},
        **overrides,
    }
    return spec_from_dict(data)


def test_seed_levels_go_through_prompt_functions(tmp_path, monkeypatch):
    import genenv.prompts
    from genenv.curricula.schedule import build_sampler

    image = tmp_path / "frame.png"
    image.write_bytes(b"not read by the fake")
    calls = []

    def fake_text(task, text):
        calls.append(("text", task, text))
        return WorldSpec(task, {"gravity": 1.62})  # the moon: outside the training range

    def fake_image(task, path):
        calls.append(("image", task, str(path)))
        return WorldSpec(task, {"mass_scale": 2.0}, initial_state={"qpos": [0.0, 0.1]})

    monkeypatch.setattr(genenv.prompts, "spec_from_text", fake_text, raising=False)
    monkeypatch.setattr(genenv.prompts, "spec_from_image", fake_image, raising=False)
    spec = _curriculum_spec(seeds={"prompts": ["on the moon"], "images": [str(image)], "random": 1})
    sampler = build_sampler(spec, "accel")
    seeds = sampler.pending_seeds
    assert calls == [("text", TASK, "on the moon"), ("image", TASK, str(image.resolve()))]
    assert [p.source for _, p in seeds] == ["prompt", "image", "default", "random"]
    assert seeds[0][1].prompt == "on the moon" and seeds[1][1].prompt == str(image.resolve())
    low = get_task(TASK).train_ranges["gravity"][0]
    assert seeds[0][0].context.gravity == low  # clipped into the curriculum's range
    assert seeds[1][0].initial_state.qpos == (0.0, 0.1)  # the image's pose is kept
    monkeypatch.delattr(genenv.prompts, "spec_from_text")
    with pytest.raises(ValueError, match="spec_from_text"):
        build_sampler(spec, "accel")
