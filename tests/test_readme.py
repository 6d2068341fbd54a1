"""The README's promises: its SB3-in-a-dream snippet is six lines and runs (with tiny numbers), and
it links to nothing outside the repository."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _snippet(heading: str) -> str:
    """The first ```python block after the README heading `heading`."""
    text = README.read_text()
    start = text.index(heading)
    match = re.search(r"```python\n(.*?)```", text[start:], flags=re.S)
    assert match, f"no python block after {heading!r}"
    return match.group(1)


def test_sb3_in_a_dream_is_six_lines_and_runs(tmp_path):
    from genenv.agents.sb3 import load_policy
    from genenv.envs.testing import random_world_model
    from genenv.models.checkpoint import save_checkpoint
    from genenv.models.ensemble import EnsembleConfig

    code = _snippet("## Train an SB3 agent in a dream")
    assert len([line for line in code.splitlines() if line.strip()]) == 6
    world = save_checkpoint(
        random_world_model("InvertedPendulum", EnsembleConfig(2, 1, 16, 1)), tmp_path / "world"
    )
    tiny = {
        "runs/quickstart/world": str(world),
        "num_envs=64": "num_envs=4",
        "n_steps=64": "n_steps=8",
        "batch_size=512": "batch_size=16",
        "100_000": "64",
        "runs/ppo-in-a-dream.zip": str(tmp_path / "ppo-in-a-dream.zip"),
    }
    for old, new in tiny.items():
        assert old in code, old
        code = code.replace(old, new)
    namespace: dict = {}
    exec(compile(code, str(README), "exec"), namespace)  # the README's own lines
    assert namespace["agent"].num_timesteps >= 64
    load_policy(tmp_path / "ppo-in-a-dream.zip")  # what `genenv record --policy` then loads


def test_readme_and_design_link_only_inside_the_repository():
    assert "DreamSB3VecEnv" in README.read_text() and "docs/design.md" in README.read_text()
    for page in (README, README.parent / "docs" / "design.md"):
        text = page.read_text()
        for target in re.findall(r"\]\(([^)]+)\)", text):  # markdown links
            assert "://" not in target and not target.startswith("/"), (page.name, target)
            assert (page.parent / target.split("#")[0]).exists(), (page.name, target)
        assert "../" not in text and "shared/" not in text, page.name
