#!/usr/bin/env bash
# Start a real single-node Slurm cluster on this machine (Debian 12's slurm-wlm + munge), with
# no systemd: daemons are started directly and their PIDs recorded in /run/mofe-slurm, so
# tools/slurm_down.sh stops exactly what this started. Idempotent: a second run changes nothing.
#   sudo bash tools/slurm_up.sh        (SLURM_CPUS=N advertises N CPUs; default max(8, nproc))
# Findings behind the settings are in the project notes (local Slurm 22.05): pmix is the only
# working srun MPI plugin with Debian's Open MPI; cred_expire=10 makes a requeued job restart in
# ~10 s instead of 120; config_overrides lets the node advertise more CPUs than it has.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
STATE=/run/mofe-slurm
mkdir -p "$STATE"

need=()
for p in slurmctld slurmd slurm-client munge; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if ((${#need[@]})); then
  # Without systemd the packages' scripts would start munge themselves; forbid it so that
  # every daemon is started (and stopped) by us.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" > /tmp/mofe-slurm-apt.log 2>&1 \
    || { cat /tmp/mofe-slurm-apt.log; exit 1; }
fi

NODE=$(hostname -s)
getent hosts "$NODE" >/dev/null || echo "127.0.0.1 $NODE" >> /etc/hosts
NCPU=$(nproc)
CPUS=${SLURM_CPUS:-$(( NCPU > 8 ? NCPU : 8 ))}

install -d -o munge -g munge -m 0700 /etc/munge /var/log/munge
install -d -o munge -g munge -m 0711 /var/lib/munge
install -d -o munge -g munge -m 0755 /run/munge
if [ ! -s /etc/munge/munge.key ]; then
  mungekey --create --keyfile=/etc/munge/munge.key 2>/dev/null \
    || dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
fi
chown munge:munge /etc/munge/munge.key; chmod 0400 /etc/munge/munge.key

install -d -m 0755 /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/slurm
old=$( [ -f /etc/slurm/slurm.conf ] && md5sum < /etc/slurm/slurm.conf || echo none)
cat > /etc/slurm/slurm.conf <<CONF
# single-node cluster written by mofe tools/slurm_up.sh
ClusterName=mofe-local
SlurmctldHost=${NODE}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=cred_expire=10
MpiDefault=pmix
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
EnforcePartLimits=ALL
MailProg=/bin/true
SlurmdParameters=config_overrides
ReturnToService=2
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
SchedulerParameters=sched_interval=2
MessageTimeout=10
KillWait=5
MinJobAge=300
InactiveLimit=0
NodeName=${NODE} NodeAddr=127.0.0.1 CPUs=${CPUS} RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE OverSubscribe=YES State=UP
CONF
new=$(md5sum < /etc/slurm/slurm.conf)

alive() { [ -s "$STATE/$1.pid" ] && kill -0 "$(cat "$STATE/$1.pid")" 2>/dev/null; }
start() {  # start NAME PIDFILE CMD...: unless running; record the PID of what we started
  local name=$1 pidfile=$2; shift 2
  alive "$name" && return 0
  if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "$name already runs (pid $(cat "$pidfile")), not ours: left alone"; return 0
  fi
  rm -f "$pidfile"
  "$@"
  for _ in $(seq 100); do [ -s "$pidfile" ] && break; sleep 0.1; done
  [ -s "$pidfile" ] || { echo "$name did not start" >&2; return 1; }
  cp "$pidfile" "$STATE/$name.pid"
}
start munged /run/munge/munged.pid runuser -u munge -- /usr/sbin/munged --force
munge -n | unmunge > /dev/null
start slurmctld /run/slurm/slurmctld.pid /usr/sbin/slurmctld -i
start slurmd /run/slurm/slurmd.pid /usr/sbin/slurmd
if [ "$old" != "$new" ] && alive slurmctld; then scontrol reconfigure; fi

for _ in $(seq 60); do
  case "$(sinfo -h -n "$NODE" -o %T 2>/dev/null || true)" in idle|mixed|allocated|completing) break;; esac
  sleep 1
done
case "$(sinfo -h -n "$NODE" -o %T)" in drain*|down*|fail*) scontrol update nodename="$NODE" state=resume;; esac
sinfo
