"""Thin Hydra entry points: each composes its config and calls one function of ``src``."""
