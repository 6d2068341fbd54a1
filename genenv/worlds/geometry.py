"""Geometric contexts: generate the MJCF of a task with its limbs/poles scaled in length."""

from __future__ import annotations

import os
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import gymnasium

from genenv.worlds.tasks import TaskInfo

# task -> (stock XML file name in gymnasium's assets, bodies whose subtrees get scaled).
# The root body's own position (where it attaches) is kept; everything inside it is scaled.
SCALED_SUBTREES: dict[str, tuple[str, tuple[str, ...]]] = {
    "InvertedPendulum": ("inverted_pendulum.xml", ("pole",)),
    "InvertedDoublePendulum": ("inverted_double_pendulum.xml", ("pole",)),
    "HalfCheetah": ("half_cheetah.xml", ("bthigh", "fthigh")),
}


def _scale_attr(elem: ET.Element, name: str, scale: float, only: slice | None = None) -> None:
    if name not in elem.attrib:
        return
    values = [float(v) for v in elem.attrib[name].split()]
    idx = range(len(values)) if only is None else range(len(values))[only]
    for i in idx:
        values[i] *= scale
    elem.attrib[name] = " ".join(f"{v:.6g}" for v in values)


def _scale_subtree(root: ET.Element, scale: float) -> None:
    for elem in root.iter():
        if elem is not root and elem.tag in ("body", "site"):
            _scale_attr(elem, "pos", scale)
        elif elem.tag == "geom":
            if "fromto" in elem.attrib:
                _scale_attr(elem, "fromto", scale)
            else:
                _scale_attr(elem, "pos", scale)
                if elem.attrib.get("type", "sphere") == "capsule":
                    _scale_attr(elem, "size", scale, only=slice(1, 2))  # half-length only


def scaled_xml(task: TaskInfo, length_scale: float) -> str:
    """The task's stock MJCF with its scaled subtrees multiplied by `length_scale`, as text."""
    if task.name not in SCALED_SUBTREES:
        raise ValueError(
            f"task {task.name} has no geometric context; tasks that do: {', '.join(SCALED_SUBTREES)}"
        )
    file_name, bodies = SCALED_SUBTREES[task.name]
    assets = Path(gymnasium.__file__).parent / "envs" / "mujoco" / "assets"
    tree = ET.parse(assets / file_name)
    for name in bodies:
        body = tree.getroot().find(f".//body[@name='{name}']")
        if body is None:
            raise RuntimeError(f"body {name!r} not found in {file_name}; gymnasium changed its XML")
        _scale_subtree(body, length_scale)
    return ET.tostring(tree.getroot(), encoding="unicode")


def scaled_xml_file(task: TaskInfo, length_scale: float) -> str:
    """Write (once) and return the path of the scaled MJCF; cached per task and scale."""
    cache = Path(tempfile.gettempdir()) / f"genenv-mjcf-{os.getuid()}"
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"{task.name}-length{length_scale:.6g}.xml"
    if not path.exists():
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(scaled_xml(task, length_scale))
        tmp.replace(path)  # atomic: parallel workers never read a half-written file
    return str(path)
