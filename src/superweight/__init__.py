"""superweight: find the super weights of causal language models and study what they do (arXiv 2411.07191).

Modules, one job each: adapters (where each family keeps its down projection), load (model sources),
detect, intervene, ablation, perplexity, evaluate (lm-eval), data, scoring, tables, plot, provenance, config."""

__version__ = "0.1.0"
