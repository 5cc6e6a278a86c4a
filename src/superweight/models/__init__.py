"""Models: where a model comes from (sources, no torch), loading it (load), and where each family keeps its layers (adapters)."""
