#!/usr/bin/env bash
# Citus operations on isolated tables (operations.sh) on a single node: the
# coordinator holds every shard (Citus's recommended start), so every
# placement is made by local execution in the caller's own backend.
set -u
CITUS_NODES=coord
MULTI=false
. "$(dirname "$0")/operations.sh"
operations_test 104
