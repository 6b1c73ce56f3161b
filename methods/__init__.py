"""Scaling strategies, each a plugin registered under ``gnnbench.methods``."""
