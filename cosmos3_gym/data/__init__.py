"""Datasets: MuJoCo-twin rollouts stored in the LeRobot v3.0 layout, loaded into contiguous arrays."""

from cosmos3_gym.data.collect import collect
from cosmos3_gym.data.dataset import StateDataset, concat, load_dataset
from cosmos3_gym.data.format import DatasetError

__all__ = ["DatasetError", "StateDataset", "collect", "concat", "load_dataset"]
