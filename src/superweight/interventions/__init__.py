"""Interventions on a loaded model, each restoring exactly what it changed: weight edits and the super-activation
restore (edits), the paper's ablation conditions (conditions), NotApplicable and which experiments equal an
ablation condition's model (applicability, no torch)."""
