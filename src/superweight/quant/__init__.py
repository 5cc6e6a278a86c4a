"""Quantization: simulated block-wise RTN, W8A8 and SmoothQuant (quantize), and choosing the clipping z (tune_z)."""
