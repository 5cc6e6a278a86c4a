"""Mechanism analyses, measurements only (verdicts are the report's): stopword probabilities (stopwords),
super-activation propagation (propagation), Hadamard amplification (hadamard), the skip-connection ablation (skip),
random-outlier significance (significance), emergence during pre-training (emergence)."""
