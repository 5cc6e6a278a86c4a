"""Interventions on a loaded model: weight edits and super-activation restore (edits), the paper's ablation conditions (conditions), a scoring job's wildcards turned into one (experiments)."""
