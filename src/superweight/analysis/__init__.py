"""Mechanism analyses, measurements only (verdicts are the report's): stopword probabilities (stopwords),
super-activation propagation (propagation), Hadamard amplification (hadamard), the skip-connection ablation (skip),
random-outlier significance (significance), emergence during pre-training (emergence), and a scoring job's
experiment as one change of the loaded model (experiments)."""
