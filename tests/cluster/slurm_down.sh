#!/usr/bin/env bash
# Stop the daemons slurm_up.sh started (by pid) and remove their state.
DIR=${SLURM_CI_DIR:-/tmp/sw-slurm}
[ -f "$DIR/pids" ] || exit 0
while read -r pid; do [ -n "$pid" ] && kill "$pid" 2>/dev/null && echo "slurm_down: stopped pid $pid"; done < "$DIR/pids"
for _ in $(seq 20); do  # wait until they are gone, so a new cluster can start at once
  alive=0
  while read -r pid; do [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && alive=1; done < "$DIR/pids"
  [ "$alive" = 0 ] && break
  sleep 0.5
done
rm -rf "$DIR"
