"""genenv.models: world models (one protocol, several kinds), training, checkpoints."""

from genenv.models.base import ModelStep, WorldModel
from genenv.models.checkpoint import load_checkpoint, read_checkpoint_metadata, save_checkpoint
from genenv.models.ensemble import EnsembleConfig, EnsembleWorldModel
from genenv.models.evaluate import open_loop_errors
from genenv.models.kinds import KINDS, ModelKind
from genenv.models.latent import LatentConfig, LatentWorldModel
from genenv.models.latent_train import LatentTrainConfig, train_latent_model
from genenv.models.train import TrainConfig, train_world_model

__all__ = [
    "KINDS",
    "LatentConfig",
    "LatentTrainConfig",
    "LatentWorldModel",
    "ModelKind",
    "EnsembleConfig",
    "EnsembleWorldModel",
    "ModelStep",
    "TrainConfig",
    "WorldModel",
    "load_checkpoint",
    "open_loop_errors",
    "read_checkpoint_metadata",
    "save_checkpoint",
    "train_latent_model",
    "train_world_model",
]
