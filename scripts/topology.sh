#!/bin/sh
# The failover topology on loopback from the machine's packages (etcd-server,
# patroni, postgresql, redis-server, haproxy): see scripts/topology.ts and
# docs/operator.md. usage: scripts/topology.sh up [--instances N] [DIR] | status [DIR] | down [DIR]
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
node=node
[ -x "$root/node_modules/.bin/node" ] && node="$root/node_modules/.bin/node"
# tsx resolves from the repository; a relative DIR is the caller's.
export ATTESTO_TOPOLOGY_CWD="$PWD"
cd "$root"
exec "$node" --import tsx scripts/topology.ts "$@"
