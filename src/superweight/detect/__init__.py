"""Detection: candidate super weights from activation spikes, data-free (spikes), their confirmation by ablation on text (confirm, ablations), the used list and its one reader (used)."""
