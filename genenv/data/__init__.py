"""genenv.data: collect real MuJoCo transitions into Minari datasets and read them back."""

from genenv.data.collect import collect, collection_info, context_sampler, count_steps
from genenv.data.load import episode_specs, load_transitions
from genenv.data.pixels import PixelTransitions, load_pixel_transitions, pixel_info
from genenv.data.storage import read_metadata
from genenv.data.transitions import Transitions

__all__ = [
    "PixelTransitions",
    "Transitions",
    "collect",
    "collection_info",
    "context_sampler",
    "count_steps",
    "episode_specs",
    "load_pixel_transitions",
    "load_transitions",
    "pixel_info",
    "read_metadata",
]
