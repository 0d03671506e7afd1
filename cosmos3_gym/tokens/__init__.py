"""The Cosmos3 action contract: framewise pose deltas, rot6d, quantile normalization, 64-channel tokens."""

from cosmos3_gym.tokens.contract import ActionContract

__all__ = ["ActionContract"]
