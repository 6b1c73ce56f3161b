"""Low-bit quantized deep GNNs with smoothness-aware message propagation (Wang et al., CIKM 2023)."""
