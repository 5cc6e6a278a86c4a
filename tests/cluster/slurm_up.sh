#!/usr/bin/env bash
# Start a single-node SLURM cluster on this machine (loopback only), for tests/cluster/test_slurm.py.
# Installs Debian's slurm-wlm and munge if missing. State lives under $SLURM_CI_DIR (default /tmp/sw-slurm);
# daemons' pids go to $SLURM_CI_DIR/pids for slurm_down.sh.
#
# Job status: the Snakemake SLURM executor can read job states from sacct (needs slurmdbd + a database) or from
# squeue. We use squeue, with MinJobAge=3600 so finished jobs stay visible to it long enough: the plugin supports
# `--slurm-status-command squeue` and itself recommends it when MinJobAge is large, and it avoids running MariaDB
# and slurmdbd in CI. Finished jobs (with their requested memory, time limit and CPUs) are recorded by the
# jobcomp/filetxt plugin in $SLURM_CI_DIR/jobcomp.log, which the test reads as the job history.
set -euo pipefail
DIR=${SLURM_CI_DIR:-/tmp/sw-slurm}
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  echo "slurm_up: installing slurm-wlm and munge from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq slurm-wlm munge >/dev/null
fi
mkdir -p "$DIR"/{spool/ctld,spool/d,log,run} /etc/slurm
: > "$DIR/pids"
HOST=$(hostname -s)
CPUS=$(nproc)
MEM_MB=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 2048 ))
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=superweight-ci
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=6817
SlurmdPort=6818
AuthType=auth/munge
StateSaveLocation=$DIR/spool/ctld
SlurmdSpoolDir=$DIR/spool/d
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/jobcomp.log
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MinJobAge=3600
ReturnToService=2
MpiDefault=none
SchedulerType=sched/backfill
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=ci Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF
# munge: key from the package, or a fresh one
if [ ! -s /etc/munge/munge.key ]; then mungekey --create --keyfile /etc/munge/munge.key 2>/dev/null || \
  dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null; fi
chown munge:munge /etc/munge/munge.key 2>/dev/null || true
chmod 400 /etc/munge/munge.key
mkdir -p /run/munge /var/log/munge /var/lib/munge && chown munge:munge /run/munge /var/log/munge /var/lib/munge 2>/dev/null || true
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  runuser -u munge -- /usr/sbin/munged --force
  sleep 1
  pgrep -n -x munged >> "$DIR/pids"
fi
munge -n | unmunge >/dev/null
echo "slurm_up: munged running"
/usr/sbin/slurmctld -i
/usr/sbin/slurmd
sleep 2
cat "$DIR/run/slurmctld.pid" "$DIR/run/slurmd.pid" >> "$DIR/pids"
echo "slurm_up: slurmctld pid $(cat "$DIR/run/slurmctld.pid"), slurmd pid $(cat "$DIR/run/slurmd.pid")"
for i in $(seq 60); do
  state=$(sinfo -h -N -o %t 2>/dev/null | head -1 || true)
  if [ "$state" = "idle" ]; then echo "slurm_up: node $HOST idle ($CPUS CPUs, ${MEM_MB} MB)"; exit 0; fi
  sleep 1
done
echo "slurm_up: node never became idle (state: ${state:-none})" >&2
tail -20 "$DIR/log/slurmctld.log" "$DIR/log/slurmd.log" >&2 || true
exit 1
