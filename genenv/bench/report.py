"""The benchmark's markdown table, with where each goal stands and what limits it."""

from __future__ import annotations

from typing import Any

import numpy as np


def _fmt(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


def header_lines(res: dict[str, Any]) -> list[str]:
    """Command line, machine, date, code version and what was cut, as BENCHMARKS.md asks."""
    m, cfg, prov = res["machine"], res["config"], res.get("provenance", {})
    machine = m.get("line") or f"{m['cpu']}, {m['cores']} CPU cores, torch {m['torch']}"
    cuts = []
    if cfg["ppo_steps"] < cfg["ppo_target"] and "ppo" not in cfg["skip"]:
        cuts.append(
            f"PPO measured for {cfg['ppo_steps']:,} steps and extrapolated to {cfg['ppo_target']:,}"
        )
    cuts.append(
        f"real vector envs whose build would exceed {cfg['real_mem_budget_gb']} GB or "
        f"{cfg['real_build_budget_s']:.0f} s are not run (their rows say so)"
    )
    if cfg["skip"]:
        cuts.append(f"sections skipped: {', '.join(cfg['skip'])}")
    if m["device"] == "cpu":
        cuts.append("GPU not measured (no device lent)")
    return [
        f"Command: `{prov.get('command', 'not recorded')}`",
        "",
        f"Machine: {machine}; {m['torch_threads']} torch thread(s), Python {m['python']}, "
        f"device `{m['device']}`. Load average at start {m['load_avg_at_start'][0]:.2f}, at end "
        f"{m.get('load_avg_at_end', [float('nan')])[0]:.2f}. {cfg['note']}".rstrip(),
        "",
        f"Date: {prov.get('date', 'not recorded')}; code: {prov.get('git', 'not recorded')}.",
        "",
        f"Cut to fit: {'; '.join(cuts)}.",
    ] + (
        ["", f"**Incomplete**: the run stopped before {', '.join(res['unfinished'])}."]
        if res.get("unfinished")
        else []
    )


def to_markdown(res: dict[str, Any]) -> str:
    cfg = res["config"]
    m = res["machine"]
    lines = [
        "# Throughput: imagined (DreamVectorEnv) vs real (MuJoCo) steps per second",
        "",
        *header_lines(res),
        "",
        "Imagined: tensor API, random-init default-size `EnsembleWorldModel` (5 members of "
        "3x200, of which the 4 elites run), random actions, torch.compile "
        f"{'on' if cfg['compile'] else 'off'}. Real: gymnasium "
        "`SyncVectorEnv` of `WorldSpec(task).make_env`. Each point "
        f"runs >= {cfg['min_seconds']} s or {cfg['max_iters']} vector steps, whichever first. "
        "Model GFLOP/s: matmul FLOPs of the members that run, per second. CPU time: the same "
        "ratio per second of each measurement's own process CPU time (both sides run one "
        "thread), which other load on a shared machine moves less than wall-clock time.",
        "",
        "| task | envs | real steps/s | imagined steps/s | imagined / real | "
        "imagined / real (CPU time) | model GFLOP/s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for task, rows in res["throughput"].items():
        for n, row in rows.items():
            real, dream = row.get("real", {}), row.get("dream", {})
            real_s = (
                _fmt(real.get("steps_per_s"))
                if real.get("status") == "ok"
                else (f"not run: {real['reason']}" if real else "-")
            )
            ratio, cpu = row.get("ratio_dream_over_real"), row.get("ratio_dream_over_real_cpu")
            lines.append(
                f"| {task} | {n} | {real_s} | {_fmt(dream.get('steps_per_s'))} | "
                f"{'-' if ratio is None else f'{ratio:.2f}x'} | "
                f"{'-' if cpu is None else f'{cpu:.2f}x'} | "
                f"{_fmt(dream.get('model_gflops_per_s'))} |"
            )
    if m["device"] == "cpu":
        lines += ["| GPU | - | - | not measured (no device lent) | - | - | - |"]
    if res.get("model_width"):
        real = res["throughput"]["HalfCheetah"]["1024"].get("real", {})
        lines += [
            "",
            "## Model width (HalfCheetah, 1024 envs, 4 elites of 5 members x 3 hidden layers)",
            "",
            "| hidden units | model MFLOP per step | imagined steps/s | imagined / real | "
            "imagined / real (CPU time) |",
            "|---:|---:|---:|---:|---:|",
        ]
        default = res["throughput"]["HalfCheetah"]["1024"].get("dream")
        rows = {"200 (default)": default} if default else {}
        for width, row in {**rows, **res["model_width"]}.items():
            ok = real.get("status") == "ok"
            ratio = f"{row['steps_per_s'] / real['steps_per_s']:.2f}x" if ok else "-"
            both = ok and row.get("steps_per_cpu_s") and real.get("steps_per_cpu_s")
            cpu = f"{row['steps_per_cpu_s'] / real['steps_per_cpu_s']:.2f}x" if both else "-"
            lines.append(
                f"| {width} | {row['model_flops_per_step'] / 1e6:.2f} | "
                f"{_fmt(row['steps_per_s'])} | {ratio} | {cpu} |"
            )
    lines += option_lines(res)
    if "memory" in res:
        lines += [
            "",
            "## Memory per env slot",
            "",
            "| task | envs | state tensors (bytes/slot) | RSS delta (bytes/slot) | "
            "peak RSS delta (bytes/slot) | real env RSS (bytes/env) |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for task, mem in res["memory"].items():
            real_rss = [
                r["real"].get("rss_bytes_per_env")
                for r in res["throughput"][task].values()
                if r.get("real", {}).get("status") == "ok"
            ]
            lines.append(
                f"| {task} | {mem['num_envs']} | {_fmt(mem['state_bytes_per_slot'])} | "
                f"{_fmt(mem['rss_delta_bytes_per_slot'])} | "
                f"{_fmt(mem['peak_rss_delta_bytes_per_slot'])} | "
                f"{_fmt(real_rss[-1]) if real_rss else '-'} |"
            )
    if "ppo" in res:
        p = res["ppo"]
        lines += [
            "",
            f"## PPO wall-clock for {p['target_steps']:,} imagined steps ({p['task']})",
            "",
            f"Same dream env and recipe (`{p['recipe']}`): {p['settings']}. Measured "
            f"{p['measured_steps']:,} steps each"
            + (", then extrapolated linearly." if p["measured_steps"] < p["target_steps"] else "."),
            "",
            "| agent | steps measured | seconds | in env.step_tensor | agent side | steps/s "
            "| seconds for target |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for name, key in (("on-device PPO (genenv)", "ondevice"), ("SB3 PPO via adapter", "sb3")):
            r = p.get(key, {})
            if r.get("status") == "ok":
                env_s, agent_s = r.get("env_seconds"), r.get("agent_seconds")
                lines.append(
                    f"| {name} | {r['steps']:,} | {r['seconds']:.1f} | "
                    f"{'-' if env_s is None else f'{env_s:.1f}'} | "
                    f"{'-' if agent_s is None else f'{agent_s:.1f}'} | "
                    f"{_fmt(r['steps_per_s'])} | {r['seconds_for_target']:.0f} |"
                )
            else:
                lines.append(f"| {name} | not run: {r.get('reason', '-')} | | | | | |")
        if "ratio_sb3_over_ondevice" in p:
            lines.append(
                f"\nSpeed-up of on-device PPO over SB3 PPO, end to end: "
                f"{p['ratio_sb3_over_ondevice']:.2f}x"
                + (
                    f"; agent side only (total minus time inside the shared env step): "
                    f"{p['ratio_agent_side_sb3_over_ondevice']:.2f}x."
                    if "ratio_agent_side_sb3_over_ondevice" in p
                    else "."
                )
            )
    lines += ["", "## Goals", ""] + goal_lines(res)
    return "\n".join(lines) + "\n"


STEP_OPTIONS = {
    "elites": "default: all 4 elites (disagreement in info, elites' mean termination vote)",
    "sampled": '`members="sampled"` (opt-in): each slot\'s drawn elite only (TS1; no '
    "disagreement, that member's own termination)",
}


def _ratios(row: dict[str, Any], real: dict[str, Any]) -> tuple[float | None, float | None]:
    """(wall-clock, CPU-time) ratios of an imagined row over the real one, where measured."""
    if real.get("status") != "ok" or row.get("status") != "ok":
        return None, None
    both = row.get("steps_per_cpu_s") and real.get("steps_per_cpu_s")
    cpu = row["steps_per_cpu_s"] / real["steps_per_cpu_s"] if both else None
    return row["steps_per_s"] / real["steps_per_s"], cpu


def option_lines(res: dict[str, Any]) -> list[str]:
    """The default step beside the opt-in sampled-member step (HalfCheetah, 1024 envs)."""
    hc = res["throughput"].get("HalfCheetah", {}).get("1024", {})
    if not res.get("step_options") or hc.get("dream", {}).get("status") != "ok":
        return []
    lines = [
        "",
        "## Step options (HalfCheetah, 1024 envs; same model, same run)",
        "",
        "| step | model MFLOP per step | imagined steps/s | imagined / real | "
        "imagined / real (CPU time) | 10x real |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, row in {"elites": hc["dream"], **res["step_options"]}.items():
        ratio, cpu = _ratios(row, hc.get("real", {}))
        meets = "-" if ratio is None else ("met" if ratio >= 10 else "not met")
        lines.append(
            f"| {STEP_OPTIONS.get(name, name)} | {row['model_flops_per_step'] / 1e6:.2f} | "
            f"{_fmt(row['steps_per_s'])} | {'-' if ratio is None else f'{ratio:.2f}x'} | "
            f"{'-' if cpu is None else f'{cpu:.2f}x'} | {meets} |"
        )
    return lines


def goal_lines(res: dict[str, Any]) -> list[str]:
    out = []
    hc = res["throughput"].get("HalfCheetah", {}).get("1024", {})
    ratio = hc.get("ratio_dream_over_real")
    cpu = hc.get("ratio_dream_over_real_cpu")
    out.append(
        "- CPU, HalfCheetah at 1024 envs, imagined >= 10x real steps/s: default env "
        + (
            "not measured"
            if ratio is None
            else f"{ratio:.2f}x ({'met' if ratio >= 10 else 'not met'})"
            + ("" if cpu is None else f"; per CPU second {cpu:.2f}x")
        )
    )
    for name, row in res.get("step_options", {}).items():
        opt, opt_cpu = _ratios(row, hc.get("real", {}))
        if opt is not None:
            out.append(
                f"  With {STEP_OPTIONS.get(name, name)}: {opt:.2f}x "
                f"({'met' if opt >= 10 else 'not met'})"
                + ("" if opt_cpu is None else f"; per CPU second {opt_cpu:.2f}x")
                + "; the default env is the row above."
            )
    dream = hc.get("dream", {})
    if dream.get("status") == "ok":
        out.append("  " + limit_text(res))
    sp = res.get("ppo", {}).get("ratio_sb3_over_ondevice")
    out.append(
        "- On-device PPO >= 5x faster than SB3 PPO: "
        + ("not measured" if sp is None else f"{sp:.2f}x ({'met' if sp >= 5 else 'not met'})")
    )
    ours, peer = res.get("ppo", {}).get("ondevice", {}), res.get("ppo", {}).get("sb3", {})
    if ours.get("env_seconds") is not None and sp is not None:
        share = ours["env_seconds"] / ours["seconds"]
        out.append(
            f"  Limit: {share:.0%} of on-device PPO's time is the world-model step, which both "
            f"agents pay alike, and the updates are the same gradient math in both. On a CPU the "
            f"on-device path removes only SB3's host copies and per-env Python (agent side "
            f"{res['ppo'].get('ratio_agent_side_sb3_over_ondevice', float('nan')):.2f}x faster); "
            f"even a free agent side could not beat SB3 by more than "
            f"{peer['seconds'] / ours['env_seconds']:.2f}x (SB3 time / env-step time)."
        )
    if res["machine"]["device"] == "cpu":
        out.append(
            "- GPU goals (10M imagined steps/s at 65k+ envs; PPO 1M+ steps/s): not measured "
            "(no device lent)."
        )
    return out


def rate_key(res: dict[str, Any]) -> str:
    """ "steps_per_cpu_s" where HalfCheetah at 1024 envs and its width sweep have CPU-time rates
    (less moved by other load), else "steps_per_s"."""
    hc = res["throughput"].get("HalfCheetah", {}).get("1024", {})
    rows = [hc.get("dream", {}), hc.get("real", {}), *res.get("model_width", {}).values()]
    rows = [r for r in rows if r.get("status") == "ok"]
    return (
        "steps_per_cpu_s"
        if rows and all(r.get("steps_per_cpu_s") for r in rows)
        else ("steps_per_s")
    )


def width_fit(res: dict[str, Any]) -> tuple[float, float] | None:
    """Least-squares fit over the width sweep (HalfCheetah, 1024 envs) of the time per imagined
    env step: t = fixed + flops / rate. Returns (fixed seconds, rate FLOP/s), or None."""
    hc = res["throughput"].get("HalfCheetah", {}).get("1024", {}).get("dream", {})
    rows = [r for r in [hc, *res.get("model_width", {}).values()] if r.get("status") == "ok"]
    if len({r["model_flops_per_step"] for r in rows}) < 2:
        return None
    flops = np.array([r["model_flops_per_step"] for r in rows])
    seconds = 1.0 / np.array([r[rate_key(res)] for r in rows])
    slope, fixed = np.polyfit(flops, seconds, 1)
    if slope <= 0:
        return None
    return float(fixed), float(1.0 / slope)


def limit_text(res: dict[str, Any]) -> str:
    """What limits the imagined rate, read off the default point and the width sweep."""
    hc = res["throughput"]["HalfCheetah"]["1024"]
    dream, real = hc["dream"], hc.get("real", {})
    flops = dream["model_flops_per_step"]
    text = (
        f"Limit: one imagined HalfCheetah step costs {flops / 1e6:.2f} MFLOP of matmuls in the "
        f"4 elite members (the fifth member is not run); this run sustained "
        f"{dream['model_gflops_per_s']:.1f} GFLOP/s."
    )
    fit = width_fit(res)
    if fit is None:
        return text + " (No width sweep, so the fixed cost per step is not separated.)"
    fixed, rate = fit
    key = rate_key(res)
    step = 1.0 / dream[key]
    clock = "CPU time" if key == "steps_per_cpu_s" else "wall-clock time"
    text += (
        f" Across the width sweep the {clock} per imagined step fits {fixed * 1e6:.2f} us that "
        f"does not shrink with the model (sampling, normalisers, masks, per-element work) plus "
        f"matmuls at {rate / 1e9:.0f} GFLOP/s; at the default width the matmuls are "
        f"{min(1.0, flops / rate / step):.0%} of the step and the fixed part "
        f"{max(0.0, fixed / step):.0%}."
    )
    if real.get("status") == "ok":
        bound = rate / flops / real[key]
        text += (
            f" With the fixed part at zero, the default model's matmuls alone would allow "
            f"{bound:.1f}x real at this rate, so 10x at this width needs "
            + (
                "a faster matmul (more threads, a GPU) or a smaller model (or the opt-in "
                '`members="sampled"` step, which runs one member per slot).'
                if bound < 10
                else "the fixed part cut, not only faster matmuls."
            )
        )
    return text
