# Shared by test/scripts/sanitizers.sh and scripts/valgrind.sh (sourced, not
# run): a scratch build of crm and a throwaway cluster that leave the checkout,
# its build, its .pg/ tree and the main test cluster alone.
#
#   scratch_init PREFIX   $WORK: a scratch directory in /tmp (the postgres user
#                         can reach it even when the checkout is in a private
#                         home directory), with $SRC, $OVERLAY, $DATA, $SOCK,
#                         $LOGDIR (writable by postgres), $SERVER_LOG
#   scratch_copy          the tracked files of the checkout plus untracked ones
#                         that are not ignored (a new test not yet committed),
#                         nothing built, into $SRC
#   scratch_build CFLAGS  build crm in $SRC with -Werror and CFLAGS
#   scratch_overlay       a private install tree in $OVERLAY (the server binary
#                         copied, the rest symlinked, as crm_overlay in
#                         scripts/lib.sh) with crm installed into it
#   scratch_initdb PORT   initdb into $DATA; port PORT on socket dir $SOCK only
#   scratch_stop          stop the cluster if it runs
#
# Needs $root (the checkout) and the functions as_pg, fail.

PGBIN=/usr/lib/postgresql/15/bin

scratch_init() {
	WORK=$(mktemp -d "/tmp/$1.XXXXXX")
	chmod 755 "$WORK"
	SRC=$WORK/src
	OVERLAY=$WORK/root
	OVERLAY_BIN=$OVERLAY$PGBIN
	DATA=$WORK/data
	SOCK=$WORK/sock
	LOGDIR=$WORK/log
	SERVER_LOG=$LOGDIR/server.log
	mkdir -p "$SRC" "$DATA" "$SOCK" "$LOGDIR"
	if [ "$(id -u)" = 0 ]; then chown postgres: "$DATA" "$SOCK" "$LOGDIR"; fi
	chmod 700 "$DATA"
}

scratch_copy() {
	if git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
		(cd "$root" && git ls-files -co --exclude-standard | while IFS= read -r f; do
			if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\n' "$f"; fi
		done) |
			tar -C "$root" -cf - -T - | tar -C "$SRC" -xf -
	else
		tar -C "$root" --exclude=./.pg --exclude='*.o' --exclude='*.so' -cf - . | tar -C "$SRC" -xf -
	fi
}

scratch_build() {
	make -C "$SRC" -s -j"$(nproc)" PG_CFLAGS="-Werror $1" >"$WORK/build.log" 2>&1 || {
		cat "$WORK/build.log"
		fail "crm builds with $1"
		exit 1
	}
}

scratch_overlay() {
	mkdir -p "$OVERLAY_BIN" "$OVERLAY/usr/share/postgresql"
	cp -rs "/usr/lib/postgresql/15/lib" "$OVERLAY/usr/lib/postgresql/15/lib"
	cp -rs "/usr/share/postgresql/15" "$OVERLAY/usr/share/postgresql/15"
	cp "$PGBIN/postgres" "$OVERLAY_BIN/postgres"
	# Never let the install write through a symlink into the system tree.
	find "$OVERLAY" \( -name 'crm.so' -o -name 'crm.control' -o -name 'crm--*.sql' \) -delete
	make -C "$SRC" -s install DESTDIR="$OVERLAY" >>"$WORK/build.log" 2>&1 || {
		cat "$WORK/build.log"
		fail "install into the private tree"
		exit 1
	}
}

scratch_initdb() {
	as_pg "$PGBIN/initdb" -D "$DATA" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync >"$WORK/initdb.log" 2>&1 || {
		cat "$WORK/initdb.log"
		fail "initdb"
		exit 1
	}
	cat >>"$DATA/postgresql.conf" <<CONF
port = $1
listen_addresses = ''
unix_socket_directories = '$SOCK'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 120
shared_buffers = 128MB
max_prepared_transactions = 10
log_min_messages = warning
CONF
}

scratch_stop() {
	if [ -f "$DATA/postmaster.pid" ]; then
		as_pg "$PGBIN/pg_ctl" -D "$DATA" -m immediate -w -t 120 stop >/dev/null 2>&1 || true
	fi
}
