"""Statistics, without torch: closed-form intervals and tests whose coverage benchmarks/coverage.py measures
(intervals), equivalence by two one-sided tests (equivalence), and group-sequential stopping boundaries
(sequential). Used by scoring (when to stop) and the report."""
