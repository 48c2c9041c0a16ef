#!/usr/bin/env bash
# Citus operations on isolated tables (operations.sh) on a coordinator and
# two workers, the coordinator in the metadata as the README requires (so
# reference tables and Citus local tables have a placement on it).
set -u
MULTI=true
. "$(dirname "$0")/operations.sh"
operations_test 136
