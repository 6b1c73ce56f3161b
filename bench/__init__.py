"""gnnbench: a pluggable harness that benchmarks strategies for scaling graph neural networks."""
__version__ = "0.1.0"
