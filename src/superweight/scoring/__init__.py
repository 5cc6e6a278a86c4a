"""Scoring a model: evaluation data (data), GPTQ perplexity (perplexity), next-token log-probabilities (logprobs),
lm-eval zero-shot accuracy (zeroshot, backends, cached_backend, accuracy), documents per task resolved once
(limits), the comparisons and look sizes of sequential scoring (looks) and one job's scores, sequentially when
configured (score)."""
