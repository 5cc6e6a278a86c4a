#!/usr/bin/env bash
# Stop the daemons slurm_up.sh started (by pid) and remove their state.
DIR=${SLURM_CI_DIR:-/tmp/sw-slurm}
if [ -f "$DIR/pids" ]; then
  while read -r pid; do [ -n "$pid" ] && kill "$pid" 2>/dev/null && echo "slurm_down: stopped pid $pid"; done < "$DIR/pids"
fi
sleep 1
rm -rf "$DIR"
