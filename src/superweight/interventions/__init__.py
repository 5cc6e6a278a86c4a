"""Interventions on a loaded model: weight edits and super-activation restore (edits), the paper's ablation conditions (conditions)."""
