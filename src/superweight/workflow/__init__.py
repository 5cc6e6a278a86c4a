"""Workflow plumbing, read when Snakemake parses the workflow (no torch): config validation (config) and its
documentation (schema_doc), the command line (command_line), resource estimates from each rule's declared work
(resources), the run's experiments with their result paths, evaluation settings, reuse sources and the files the
claims read (runplan), reuse of scores (reuse), the planned jobs checked at start (plan), data checksums (verify),
damaged results found before any job (damaged); and, imported by the jobs themselves, per-job logs (runlog)."""
