"""Memory limits of detection, without torch: confirmation reads them, and so do the workflow's resource estimates
(which run on the submit host before any model is loaded)."""

PREFIX_BYTES = 512 * 2**20  # confirmation's recorded hidden states (ablations.Prefix), at most
