"""Environments: shared spaces, the learned simulator (single + vector) and the SB3 adapter."""
