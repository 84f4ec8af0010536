#!/usr/bin/env bash
# Stops what slurm_up.sh started under $SLURM_DIR (by its pid files only: slurmd, slurmctld,
# and munged when slurm_up.sh started it), then removes $SLURM_DIR.
set -u
: "${SLURM_DIR:?set SLURM_DIR}"
stop() { # pid file
  [ -s "$1" ] || return 0
  local pid
  pid=$(cat "$1")
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid"
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null
}
stop "$SLURM_DIR/slurmd.pid"
stop "$SLURM_DIR/slurmctld.pid"
stop "$SLURM_DIR/munged.pid"
rm -rf "$SLURM_DIR"
