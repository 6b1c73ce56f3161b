"""Dataset loaders, each a plugin registered under ``gnnbench.datasets``."""
