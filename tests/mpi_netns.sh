#!/usr/bin/env bash
# Data-parallel training across two "hosts": Linux network namespaces
# joined by a veth pair, one rank in each, the ranks and Open MPI's
# daemons talking TCP over the pair (Open MPI's rsh launcher enters the
# other namespace through an agent script instead of ssh).
#   tests/mpi_netns.sh CLTRAIN MPIRUN WORKDIR
# 1. Two hosts give the bits of two ranks on one host.
# 2. The link cut mid-run ends the job: a non-zero exit within a minute,
#    no rank or daemon left in either namespace, the last checkpoint whole.
#    Open MPI notices the lost daemon through TCP keepalives (set to a few
#    seconds here, as they should be on a cluster); --dist-timeout is set
#    above that, for a rank that hangs while the link is up: an MPI_Abort
#    after the link is gone leaves mpirun waiting for the daemon it cannot
#    reach (Open MPI 4.1).
# Exit 77 (skipped) where namespaces cannot be made (not root, no ip).
set -uo pipefail
cltrain=$1 mpirun=$2 work=$3
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 CLT_TUNE=off
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1

tag=$$
a=clt$tag-a b=clt$tag-b net=10.$((tag % 200 + 20)).$((tag / 200 % 250)).
cleanup() {
  for ns in "$a" "$b"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
    ip netns del "$ns" 2>/dev/null
  done
}
trap cleanup EXIT
if ! command -v ip >/dev/null || ! ip netns add "$a" 2>/dev/null; then
  echo "mpi_netns: cannot make network namespaces here (root and iproute2 needed): skipped"
  exit 77
fi
set -e
ip netns add "$b"
ip link add "v$tag-a" type veth peer name "v$tag-b"
ip link set "v$tag-a" netns "$a"
ip link set "v$tag-b" netns "$b"
ip -n "$a" addr add "${net}1/24" dev "v$tag-a"
ip -n "$b" addr add "${net}2/24" dev "v$tag-b"
for ns in "$a" "$b"; do ip -n "$ns" link set lo up; done
ip -n "$a" link set "v$tag-a" up
ip -n "$b" link set "v$tag-b" up

cat >agent.sh <<EOF
#!/bin/sh
# Open MPI's rsh agent: the "host" is an address, the namespace holds it
host=\$1; shift
case \$host in ${net}1) ns=$a ;; ${net}2) ns=$b ;; *) echo "agent: no host \$host" >&2; exit 1 ;; esac
exec ip netns exec "\$ns" /bin/sh -c "\$*"
EOF
chmod +x agent.sh
mca=(--mca plm_rsh_agent "$PWD/agent.sh" --mca btl "tcp,self"
     --mca btl_tcp_if_include "${net}0/24" --mca oob_tcp_if_include "${net}0/24"
     --mca oob_tcp_keepalive_time 1 --mca oob_tcp_keepalive_intvl 1
     --mca oob_tcp_keepalive_probes 3)
hosts() { # mpirun on host a, a rank on each host
  timeout 120 ip netns exec "$a" "$mpirun" --host "${net}1:1,${net}2:1" "${mca[@]}" -np 2 "$@"
}
weights() { "$cltrain" export --model "$1" --format npz --out "$2" >/dev/null; }

common="--data synthetic:1000,17,5 --batch 64 --optim momentum --lr 0.05 --epochs 2"
common="$common --schedule constant --seed 3 --quiet --device ref --shards 4"
# shellcheck disable=SC2086
hosts "$cltrain" train --distributed $common --checkpoint hosts.ckpt >/dev/null
# shellcheck disable=SC2086
"$mpirun" -n 2 --oversubscribe --bind-to none "$cltrain" train --distributed $common \
  --checkpoint local.ckpt >/dev/null
weights hosts.ckpt hosts.npz && weights local.ckpt local.npz
cmp hosts.npz local.npz || { echo "two hosts differ from two local ranks" >&2; exit 1; }
echo "two hosts: the bits of two local ranks"

# About 100 epochs of a few seconds each would run; the link goes down a
# second after the first checkpoint is written.
long="--data synthetic:20000,17,5 --batch 8 --optim momentum --lr 0.01 --epochs 100"
long="$long --schedule constant --seed 3 --quiet --device ref --shards 4 --dist-timeout 15"
start=$(date +%s)
(for _ in $(seq 1200); do [ -f cut.ckpt ] && break; sleep 0.1; done
 sleep 1 && ip -n "$a" link set "v$tag-a" down) &
set +e
# shellcheck disable=SC2086
hosts "$cltrain" train --distributed $long --checkpoint cut.ckpt >cut.txt 2>&1
rc=$?
set -e
took=$(( $(date +%s) - start ))
wait
if [ "$rc" -eq 0 ] || [ "$rc" -eq 124 ]; then
  echo "the cut link: exit $rc after $took s (0: it ran on; 124: it hung)" >&2
  cat cut.txt >&2
  exit 1
fi
sleep 1
left=$(ip netns pids "$a"; ip netns pids "$b")
[ -z "$left" ] || { echo "the cut link: processes left: $left" >&2; exit 1; }
weights cut.ckpt cut.npz
echo "the cut link: the job ended in $took s with exit $rc, nothing left, the checkpoint loads"
