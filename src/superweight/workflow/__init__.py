"""Workflow plumbing: config validation (config), its documentation (schema_doc), resource estimates (resources), reuse of scores (reuse), per-job logs (runlog), data checksums (verify)."""
