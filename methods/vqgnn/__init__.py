"""VQ-GNN (Ding et al., NeurIPS 2021): vector-quantized message passing."""
