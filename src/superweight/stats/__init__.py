"""Statistics, without torch: closed-form intervals and tests whose coverage benchmarks/coverage.py measures
(intervals), equivalence by two one-sided tests (equivalence), group-sequential stopping boundaries
(sequential), exact tests for few pairs (exact) and windows that share an article as one unit (clustered). Used by scoring (when to stop) and the report."""
