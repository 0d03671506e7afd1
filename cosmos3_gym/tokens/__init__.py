"""The Cosmos3 action contract: framewise pose deltas, rot6d, quantile normalization, 64-channel tokens,
and the :class:`Embodiment` that bundles a robot's spec, kinematics and contract."""

from cosmos3_gym.tokens.contract import ActionContract
from cosmos3_gym.tokens.embodiment import Embodiment, load_embodiment

__all__ = ["ActionContract", "Embodiment", "load_embodiment"]
