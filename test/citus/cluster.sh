# A Citus cluster of a coordinator and two workers (or a coordinator alone,
# holding the shards) for the Citus suite and
# bench: each node its own data directory in a temporary directory, listening
# on 127.0.0.1 only, on free ports.  Sourced, not run.  citus_start starts
# it; citus_stop (also run on EXIT) stops every node it started.
#
#   CITUS_KEY=1   give every node the same cluster key (trovella.cluster_key_file),
#                 each its own copy: $citus_dir/NODE.key

citus_bindir=$(pg_config --bindir)
citus_dir=$(mktemp -d /tmp/trovella-citus-XXXXXX)
chmod 755 "$citus_dir"
citus_as_server() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" -eq 0 ] && chown postgres "$citus_dir"
# the nodes: a coordinator and two workers, or CITUS_NODES=coord set before
# sourcing for a coordinator that holds every shard itself
CITUS_NODES=${CITUS_NODES:-coord w1 w2}

citus_stop() {
	local n
	for n in $CITUS_NODES; do
		[ -f "$citus_dir/$n/postmaster.pid" ] &&
			citus_as_server "$citus_bindir/pg_ctl" -D "$citus_dir/$n" -m immediate -w stop >/dev/null 2>&1
	done
	rm -rf "$citus_dir"
}
trap citus_stop EXIT
trap 'exit 130' INT TERM HUP	# so that EXIT runs on a signal too

# a port nothing listens on yet, below the kernel's range for outgoing
# connections (a port some connection uses locally cannot be bound either)
citus_free_port() {
	local p low
	low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
	[ "$low" -gt 21000 ] || low=32768
	while :; do
		p=$((20000 + RANDOM % (low - 20000)))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
	done
}

# citus_node NODE: its port
citus_port() { cat "$citus_dir/$1.port"; }

# citus_init_node NODE [EXTRA_CONF_LINE...]: initdb, configure and start one
# node, with Citus created in its database
citus_init_node() {
	local n=$1 port key
	shift
	# each node its own copy of the key, as on separate machines
	key=$citus_dir/$n.key
	if [ -n "${CITUS_KEY:-}" ]; then
		cat "$citus_dir/secret" >"$key"
		chmod 600 "$key"
		[ "$(id -u)" -eq 0 ] && chown postgres "$key"
	fi
	citus_as_server "$citus_bindir/initdb" -D "$citus_dir/$n" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null || return 1
	{
		echo "listen_addresses = '127.0.0.1'"
		echo "unix_socket_directories = '$citus_dir'"
		echo "shared_preload_libraries = 'citus, trovella'"
		echo "max_prepared_transactions = 20"
		echo "citus.propagate_set_commands = 'local'"
		[ -n "${CITUS_KEY:-}" ] && echo "trovella.cluster_key_file = '$key'"
		# minor releases that restrict logical decoding output plugins
		# (15.20 and later) must be told that Citus's may be used: its
		# shard moves and splits decode through it
		"$citus_bindir/postgres" --describe-config 2>/dev/null | grep -q '^output_plugin_libraries' &&
			echo "output_plugin_libraries = 'pgoutput, test_decoding, citus'"
		local line
		for line in "$@"; do echo "$line"; done
	} >>"$citus_dir/$n/postgresql.conf"
	# a port found free may be taken before the server binds it: try others
	local try
	for try in 1 2 3 4 5; do
		port=$(citus_free_port)
		echo "$port" >"$citus_dir/$n.port"
		citus_as_server "$citus_bindir/pg_ctl" -D "$citus_dir/$n" -l "$citus_dir/$n.log" \
			-o "-p $port" -w start >/dev/null && break
		grep -q 'could not create any TCP/IP sockets' "$citus_dir/$n.log" && [ "$try" -lt 5 ] || {
			cat "$citus_dir/$n.log" >&2
			return 1
		}
	done
	citus_psql "$n" -c "CREATE EXTENSION citus" >/dev/null || return 1
}

# citus_start [EXTRA_CONF_LINE...]: initdb, configure and start every node,
# then register the workers with the coordinator
citus_start() {
	local n
	head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$citus_dir/secret"
	printf '%s\n' "$@" >"$citus_dir/conf_lines"
	for n in $CITUS_NODES; do
		citus_init_node "$n" "$@" || return 1
	done
	citus_psql coord -c "SELECT citus_set_coordinator_host('127.0.0.1', $(citus_port coord))" >/dev/null || return 1
	for n in $CITUS_NODES; do
		[ "$n" = coord ] && continue
		citus_psql coord -c "SELECT citus_add_node('127.0.0.1', $(citus_port "$n"))" >/dev/null || return 1
	done
	# a coordinator alone holds the shards (Citus's single-node setup)
	if [ "$CITUS_NODES" = coord ]; then
		citus_psql coord -c "SELECT citus_set_node_property('127.0.0.1', $(citus_port coord), 'shouldhaveshards', true)" \
			>/dev/null || return 1
	fi
}

# citus_add_worker NODE [SQL...]: a new node as citus_start configures one,
# each SQL run on it before the coordinator adds it with citus_add_node()
citus_add_worker() {
	local n=$1 sql lines=()
	shift
	mapfile -t lines <"$citus_dir/conf_lines"
	citus_init_node "$n" "${lines[@]}" || return 1
	CITUS_NODES="$CITUS_NODES $n"
	for sql in "$@"; do citus_psql "$n" -c "$sql" >/dev/null || return 1; done
	citus_psql coord -c "SELECT citus_add_node('127.0.0.1', $(citus_port "$n"))" >/dev/null
}

# citus_psql NODE [psql args]: as postgres over TCP, unaligned tuples, errors as "ERROR <sqlstate>"
citus_psql() {
	local n=$1
	shift
	psql -X -q -At -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate -h 127.0.0.1 -p "$(citus_port "$n")" -U "${CITUS_USER:-postgres}" -d postgres "$@" 2>&1 |
		sed -E 's/^psql:[^ ]* ERROR:  ([0-9A-Z]{5}).*/ERROR \1/; s/^ERROR:  ([0-9A-Z]{5}).*/ERROR \1/'
}
