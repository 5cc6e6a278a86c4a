"""superweight: find the super weights of causal language models and study what they do (arXiv 2411.07191).

Modules, one job each: adapters (where each family keeps its down projection), sources (model sources and their
shapes, without torch), load (loading with torch), detect, intervene, ablation, perplexity, evaluate (lm-eval), data,
scoring, tables, plot, provenance, config (validation, without torch), schema_doc (config/README.md), summary (the
run's summary), cli."""

__version__ = "0.1.0"
