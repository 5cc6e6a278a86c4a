"""Detection: candidate super weights from activation spikes, data-free (spikes), and their confirmation by ablation on text (confirm)."""
