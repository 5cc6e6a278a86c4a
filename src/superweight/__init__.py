"""superweight: find the super weights of causal language models and study what they do (arXiv 2411.07191).

Subpackages by stage, each module with one job:

- ``models``: ``sources`` (model sources and their shapes, without torch), ``load`` (loading), ``adapters`` (where each
  family keeps its decoder layers and down projections; its tuple outputs, flattened MLP inputs, running from layer k).
- ``detect``: ``spikes`` (data-free detection by the spike rule), ``confirm`` (confirmation of candidates by ablation
  on text), ``limits`` (its memory limits, without torch), ``used`` (the super weights experiments use: their one
  reader, without torch).
- ``interventions``: ``edits`` (zero, scale, prune other outliers, restore the super activation), ``conditions``
  (the paper's section 3.2 conditions), ``applicability`` (``NotApplicable``; which experiments equal an ablation
  condition's model, without torch).
- ``scoring``: ``data`` (corpora and prompts), ``perplexity`` (GPTQ protocol), ``logprobs``, ``zeroshot`` (lm-eval),
  ``backends`` / ``cached_backend`` (which lm-eval backend; the cached one), ``accuracy`` (a task's accuracy and SE),
  ``score`` (one job's scores).
- ``quant``: ``rtn`` (block-wise weight RTN), ``w8a8`` (W8A8, SmoothQuant), ``tune_z`` (choosing the clipping z).
- ``analysis``: ``stopwords`` (stopword probabilities), ``propagation`` (the super activation layer by layer), ``hadamard`` (the
  Hadamard decomposition), ``skip`` (the skip-connection ablation),
  ``significance`` (random outlier sets), ``emergence`` (over training checkpoints).
- ``report``: ``stats``, ``compare``, ``claims`` (the registry), ``claims_mechanism`` (its
  mechanism and Fig. 4 claims), ``verdicts`` (Holm, grades, wording), ``claims_render``, ``tables``, ``figures``,
  ``figures_mechanism``, ``summary``, ``protocol``, ``html``.
- ``workflow``: ``config`` (validation, without torch), ``command_line`` (overrides, targets, options), ``schema_doc`` (config/README.md), ``resources``, ``reuse``,
  ``runlog``, ``verify`` (data checksums), ``experiments`` (a scoring job's wildcards as one intervention).
- ``provenance`` (what produced a result; JSON records), ``cli``."""

__version__ = "0.1.0"
