"""Pure-torch graph samplers on PyG's BaseSampler API, shared by the sampling baselines."""
