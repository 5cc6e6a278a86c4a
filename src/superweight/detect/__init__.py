"""Detection: candidate super weights from activation spikes, data-free (spikes), their confirmation by ablation on
text (confirm, ablations, limits), the used list and its one reader (used, no torch)."""
