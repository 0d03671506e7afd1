"""Embodiment data (YAML adapters + MJCF), installed as ``cosmos3_gym.embodiments``. No code here."""
