#!/usr/bin/env bash
# A single-node Slurm for tests/cluster.rs (Debian's slurm-wlm + munge, installed by .ci/run):
# root, no systemd, no cgroups. Everything it starts is recorded under $SLURM_DIR so that
# slurm_down.sh stops exactly that and nothing else. Clients find the cluster through
# SLURM_CONF=$SLURM_DIR/slurm.conf (nothing is written to /etc/slurm).
# Usage: SLURM_DIR=/tmp/x SLURM_PORT=NNNNN tests/cluster/slurm_up.sh
# Pitfalls (../shared/cluster/README.md): munged must run as the munge user with a 0400 key;
# `slurmd -N localhost` because the host name is not localhost; more tasks than CPUs queue
# forever unless the job asks for --overcommit.
set -euo pipefail
: "${SLURM_DIR:?set SLURM_DIR}"
PORT=${SLURM_PORT:-6817}
NCPU=$(nproc)
mkdir -p "$SLURM_DIR"/{state,spool,log}

# munge: a key owned by munge, mode 0400; started only when no munged answers, and then
# recorded as ours (slurm_down.sh stops only a munged this script started)
install -d -o munge -g munge -m 0700 /etc/munge /var/lib/munge /var/log/munge
install -d -o munge -g munge -m 0755 /run/munge
if [ ! -s /etc/munge/munge.key ]; then
  if command -v mungekey >/dev/null; then mungekey --create --keyfile=/etc/munge/munge.key --force
  else dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none; fi
fi
chown munge:munge /etc/munge/munge.key; chmod 0400 /etc/munge/munge.key
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  runuser -u munge -- /usr/sbin/munged
  cp /run/munge/munged.pid "$SLURM_DIR/munged.pid"
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
fi
munge -n | unmunge | grep -q 'STATUS: *Success' || { echo "slurm_up: munge does not work" >&2; exit 1; }

cat > "$SLURM_DIR/slurm.conf" <<CONF
ClusterName=nbtest
SlurmctldHost=localhost
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
StateSaveLocation=$SLURM_DIR/state
SlurmdSpoolDir=$SLURM_DIR/spool
SlurmctldPidFile=$SLURM_DIR/slurmctld.pid
SlurmdPidFile=$SLURM_DIR/slurmd.pid
SlurmctldLogFile=$SLURM_DIR/log/slurmctld.log
SlurmdLogFile=$SLURM_DIR/log/slurmd.log
MailProg=/bin/true
# latency: sbatch --wait polls every 2 s when MinJobAge/2 <= 2; no delay before array tasks start
MinJobAge=5
SchedulerParameters=batch_sched_delay=0
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$NCPU State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
CONF
export SLURM_CONF="$SLURM_DIR/slurm.conf"

# -c: a clean start, no saved state; both daemonise and write their pid files
/usr/sbin/slurmctld -c -f "$SLURM_CONF"
/usr/sbin/slurmd -N localhost -f "$SLURM_CONF"

st=
for _ in $(seq 120); do
  st=$(sinfo -h -N -o '%T' 2>/dev/null | head -1 || true)
  case "$st" in idle|mixed|allocated) exit 0;; esac
  sleep 0.25
done
echo "slurm_up: the node is '$st', not ready" >&2
tail -n 20 "$SLURM_DIR"/log/*.log >&2
exit 1
