"""GNN backbones (GCN, SAGE-Mean, GAT), each a plugin registered under ``gnnbench.backbones``."""
