"""Workflow plumbing, read when Snakemake parses the workflow (no torch) unless said: config validation (config)
and its documentation (schema_doc), the command line (command_line), resource estimates from each rule's declared
work (resources), the run's experiments, their result paths and the files the claims read (runplan), reuse of scores (reuse), a scoring job's wildcards
turned into an intervention (experiments, torch), per-job logs (runlog), data checksums (verify),
damaged results found before any job (damaged)."""
