#!/usr/bin/env bash
# Redraw docs/rulegraph.svg (every rule of the workflow; rerun after adding rules). Needs graphviz's `dot`.
# tests/test_workflow_conventions.py fails when the drawing's rules differ from `snakemake --list-rules`.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v dot >/dev/null || { echo "graphviz's dot is missing: apt-get install graphviz (or conda install graphviz)" >&2; exit 1; }
snakemake --rulegraph --cores 1 --quiet all --configfile docs/rulegraph.yaml "$@" | dot -Tsvg > docs/rulegraph.svg
echo "docs/rulegraph.svg: $(grep -c 'class="node"' docs/rulegraph.svg) rules"
