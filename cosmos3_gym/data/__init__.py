"""Datasets: MuJoCo-twin rollouts stored in the LeRobot v3.0 layout, loaded as world-model windows."""

from cosmos3_gym.data.collect import collect
from cosmos3_gym.data.dataset import StateDataset, concat, load_dataset
from cosmos3_gym.data.format import DatasetError
from cosmos3_gym.data.windows import WindowDataset

__all__ = ["DatasetError", "StateDataset", "WindowDataset", "collect", "concat", "load_dataset"]
