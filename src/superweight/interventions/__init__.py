"""Interventions on a loaded model, each restoring exactly what it changed: weight edits (edits), the
super-activation restore (restore), the paper's ablation conditions (conditions), NotApplicable and which
experiments equal an ablation condition's model (applicability, no torch)."""
