"""Quantization: method names (methods, no torch), simulated block-wise weight RTN with super-weight-aware clipping
(rtn), W8A8 and SmoothQuant (w8a8), and choosing the clipping z (tune_z)."""
