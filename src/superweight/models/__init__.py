"""Models: where a model comes from (sources, no torch), loading it (load), where each family keeps its layers
(adapters), and what a job forwarded (meter)."""
