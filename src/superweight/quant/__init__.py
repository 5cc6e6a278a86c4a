"""Quantization: simulated block-wise RTN, W8A8 and SmoothQuant (rtn: weights; w8a8: activations and SmoothQuant), and choosing the clipping z (tune_z)."""
