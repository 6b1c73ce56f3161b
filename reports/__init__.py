"""Comparison reports rendered from the results store."""
