"""superweight: find the super weights of causal language models and study what they do (arXiv 2411.07191).

Subpackages by stage, lowest first (a stage imports only itself and the stages before it;
``provenance`` is below them all, ``cli`` above), each module one job:

- ``stats``: ``intervals`` (closed-form intervals and tests), ``equivalence`` (two one-sided tests),
  ``sequential`` (group-sequential stopping boundaries), ``exact`` (exact sign-flip and sign tests for few pairs),
  ``clustered`` (windows that share an article as one unit each);
  no torch.
- ``models``: ``sources`` (model sources and their shapes, without torch), ``load`` (loading), ``adapters`` (where
  each family keeps its decoder layers and down projections; its tuple outputs, flattened MLP inputs, running from
  layer k), ``meter`` (what a job forwarded: tokens and seconds by purpose).
- ``interventions``: ``edits`` (zero, scale, prune other outliers: each restores what it changed), ``restore``
  (restoring the super activation), ``conditions`` (the paper's section 3.2 conditions), ``applicability``
  (``NotApplicable``; which experiments equal an ablation condition's model, without torch).
- ``scoring``: ``data`` (corpora and prompts), ``perplexity`` (GPTQ protocol), ``logprobs``, ``zeroshot`` (lm-eval),
  ``backends`` / ``cached_backend`` (which lm-eval backend; the cached one), ``accuracy`` (a task's accuracy and
  SE), ``looks`` (what a condition scored in looks is compared with, its look sizes), ``limits`` (documents per task:
  `eval.limit` and each sweep's own, resolved once), ``score`` (one job's scores, sequentially when configured).
- ``detect``: ``spikes`` (data-free detection by the spike rule), ``confirm`` (confirmation of candidates by
  ablation on text), ``ablations`` (the perplexity of many weight ablations at once), ``limits`` (its memory limits,
  without torch), ``used`` (the super weights experiments use: their one reader, without torch).
- ``quant``: ``methods`` (method names, without torch), ``rtn`` (block-wise weight RTN), ``w8a8`` (W8A8,
  SmoothQuant), ``tune_z`` (choosing the clipping z).
- ``analysis``: ``stopwords`` (stopword probabilities), ``propagation`` (the super activation layer by layer),
  ``hadamard`` (the Hadamard decomposition), ``skip`` (the skip-connection ablation), ``significance`` (random
  outlier sets), ``emergence`` (over training checkpoints), ``experiments`` (a scoring job's ablation condition,
  scaling factor or quantization setting as one change of the loaded model). Measurements only, no verdicts.
- ``report``: ``compare`` (paired comparisons of result files), ``verdicts`` (Holm, wording), ``grades`` (a
  sub-test against the paper's numbers), ``registry`` (how a claim is registered; the paper's numbers), ``claims`` (the ablation, detection, stopword and quantization
  claims), ``claims_mechanism`` (the mechanism and Fig. 4 claims), ``claims_paper`` (Table 6's amplification, at most
  six, Fig. 7's small blocks, Fig. 4's persistence, instruct/base), ``claims_evaluate`` (every claim evaluated for
  one model), ``strength`` (a claim's strength verdict, apart from its direction), ``claims_render``, ``emergence``
  (the emergence sweep's verdict), ``tables``, ``figures``, ``figures_mechanism``, ``summary``, ``protocol``,
  ``protocol_rows`` (its classified config keys), ``fixed_choices`` (the choices no config key changes, whose each
  is: the page's rows), ``html`` (the claims, protocol and Markdown pages), ``html_tables`` (the results tables as
  pages), ``reproduce`` (each paper number's reproduction mark and its band), ``reproduce_rows`` (the paper's
  numbers read against a model's result files), ``reproduce_read`` (a result's whole set or subset, averages over
  the paper's seven tasks), ``reproduce_quant`` (the quantization tables: W8A8, Table 6, Fig. 7),
  ``reproduce_render`` (results/reproduction.*, the landing page's count).
- ``workflow`` (imports no torch): ``config`` (validation), ``command_line`` (overrides, targets, checks),
  ``schema_doc`` (config/README.md), ``resources`` (requests from each rule's declared work), ``plan`` (a run's requests
  summed; the jobs over the time limit), ``runplan`` (the run's experiments with their result paths and reuse; the
  files the claims read), ``reuse``, ``runlog``
  (per-job logs), ``verify`` (data checksums), ``damaged`` (damaged results found before any job).
- ``paths`` (where each scored experiment's result lives: one pattern per kind; each path built and read back
  there), ``settings`` (the config's sections as typed, read-only objects, key for key the schema's),
  ``provenance`` (what produced a result; JSON records), ``cli`` (``superweight detect``, ``superweight plan``)."""

__version__ = "0.1.0"
