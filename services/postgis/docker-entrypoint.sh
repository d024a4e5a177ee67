#!/bin/sh
# First start: create the cluster (scram-sha-256, TLS with the certificate
# osgs made, plaintext TCP refused) and the configured spatial databases.
# Every start: exec the server as PID 1 so the stop signal (SIGINT, fast shutdown) reaches it directly.
set -eu

: "${PGDATA:=/var/lib/postgresql/data/pgdata}"
: "${POSTGRES_USER:=osgs}"
: "${POSTGRES_DBS:=gis}"
PWFILE=${POSTGRES_PASSWORD_FILE:-/run/secrets/postgres_password}
SOCK=/var/run/postgresql

log() { echo "osgs-postgis: $*" >&2; }

# The init server listens on a private socket folder, so neither the
# healthcheck nor osgs sees the cluster before it is complete.
INIT_SOCK=/tmp/osgs-init
PGSOCK=$SOCK

psql_local() { psql -h "$PGSOCK" -U "$POSTGRES_USER" -v ON_ERROR_STOP=1 -Xq "$@"; }

# ensure_databases creates each configured database that is missing and
# installs the spatial extensions in it. Safe to run again.
ensure_databases() {
	for db in $(echo "$POSTGRES_DBS" | tr ',' ' '); do
		exists=$(psql_local -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'")
		if [ "$exists" != 1 ]; then
			log "creating database $db"
			psql_local -d postgres -c "CREATE DATABASE \"$db\""
		fi
		psql_local -d "$db" <<-SQL
			CREATE EXTENSION IF NOT EXISTS postgis;
			CREATE EXTENSION IF NOT EXISTS postgis_topology;
			CREATE EXTENSION IF NOT EXISTS postgis_raster;
			CREATE EXTENSION IF NOT EXISTS hstore;
			CREATE EXTENSION IF NOT EXISTS pgrouting;
		SQL
	done
}

if [ "${1:-}" = ensure-databases ]; then
	ensure_databases
	exit 0
fi

# Point-in-time recovery: pgBackRest, stanza "osgs". Repository 1 is the
# postgis-wal volume. osgs writes repository 2 (the S3 destination,
# encrypted) into conf.d, mode 0600, since it holds credentials.
: "${POSTGIS_PITR:=on}"
: "${PITR_RETENTION_FULL:=2}"
write_pgbackrest_conf() {
	umask 077
	cat >/etc/pgbackrest/pgbackrest.conf <<-CONF
		# written by osgs-postgis at every start; repository 2 is in conf.d
		[global]
		repo1-path=/var/lib/pgbackrest
		repo1-retention-full=$PITR_RETENTION_FULL
		repo1-retention-full-type=count
		compress-type=zst
		compress-level=3
		start-fast=y
		# A destination that is down must not fill pg_wal: past 2 GiB queued,
		# WAL is let go (PITR then has a gap, which postgis:wal shows).
		archive-push-queue-max=2GiB
		log-level-console=warn
		log-level-file=info
		log-path=/var/log/pgbackrest
		spool-path=/var/spool/pgbackrest
		lock-path=/tmp/pgbackrest

		[osgs]
		pg1-path=$PGDATA
		pg1-socket-path=$SOCK
		pg1-user=$POSTGRES_USER
	CONF
	umask 022
}

# restore: run by osgs in a helper, with the server stopped, for postgis:recover.
if [ "${1:-}" = pitr-restore ]; then
	shift
	write_pgbackrest_conf
	exec pgbackrest --stanza=osgs "$@" restore
fi

# TLS: the certificate osgs made (SAN postgis, signed by the site's
# authority, which the services that log in verify) replaces the cluster's
# on every start, so clusters made with a self-signed one get it too.
TLS_CERT=/run/secrets/postgis_server.crt
TLS_KEY=/run/secrets/postgis_server.key
install_tls() {
	if [ -s "$TLS_CERT" ] && [ -s "$TLS_KEY" ]; then
		install -m 600 "$TLS_KEY" "$PGDATA/server.key"
		install -m 644 "$TLS_CERT" "$PGDATA/server.crt"
	fi
}

if [ "${1:-}" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
	if [ ! -s "$PWFILE" ]; then
		log "no superuser password in $PWFILE; refusing to create an unprotected cluster"
		exit 1
	fi
	mkdir -p "$PGDATA"
	chmod 700 "$PGDATA"
	log "initialising cluster in $PGDATA"
	initdb -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$PWFILE" -E UTF8 --locale=C.UTF-8 \
		--auth-local=peer --auth-host=scram-sha-256 >/dev/null

	install_tls
	if [ ! -s "$PGDATA/server.crt" ]; then
		# Started without osgs's certificate: a self-signed one.
		openssl req -new -x509 -days 3650 -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
			-subj "/CN=osgs-postgis" -keyout "$PGDATA/server.key" -out "$PGDATA/server.crt" 2>/dev/null
		chmod 600 "$PGDATA/server.key"
	fi

	cat >>"$PGDATA/postgresql.conf" <<-CONF
		# osgs
		listen_addresses = '*'
		unix_socket_directories = '$SOCK'
		password_encryption = 'scram-sha-256'
		ssl = on
		ssl_cert_file = 'server.crt'
		ssl_key_file = 'server.key'
		ssl_min_protocol_version = 'TLSv1.2'
		log_timezone = '${TZ:-Etc/UTC}'
		timezone = '${TZ:-Etc/UTC}'
	CONF
	# Local socket: the container's own postgres and root users act as the
	# superuser (exec, healthcheck, backups). TCP: TLS and scram only.
	cat >"$PGDATA/pg_ident.conf" <<-IDENT
		local postgres $POSTGRES_USER
		local root     $POSTGRES_USER
		local postgres postgres
	IDENT
	cat >"$PGDATA/pg_hba.conf" <<-HBA
		local     all all                peer map=local
		hostssl   all all 0.0.0.0/0      scram-sha-256
		hostssl   all all ::/0           scram-sha-256
		hostnossl all all 0.0.0.0/0      reject
		hostnossl all all ::/0           reject
	HBA

	mkdir -p "$INIT_SOCK"
	pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -c unix_socket_directories=$INIT_SOCK" -w start >/dev/null
	PGSOCK=$INIT_SOCK ensure_databases
	pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
	log "cluster ready"
fi

if [ "${1:-}" = postgres ]; then
	shift
	install_tls
	write_pgbackrest_conf
	if [ "$POSTGIS_PITR" = on ]; then
		# archive_timeout bounds what a lost server can lose to a minute.
		set -- -c wal_level=replica -c archive_mode=on -c archive_timeout=60 \
			-c "archive_command=pgbackrest --stanza=osgs archive-push %p" "$@"
	fi
	# Mozilla's "intermediate" TLS profile on every start (clusters made
	# by older images too): TLS 1.3, and TLS 1.2 with ECDHE and AES-GCM or
	# ChaCha20-Poly1305 only.
	set -- -c ssl_min_protocol_version=TLSv1.2 \
		-c ssl_ciphers=ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305 \
		-c ssl_prefer_server_ciphers=on "$@"
	exec postgres -D "$PGDATA" "$@"
fi
exec "$@"
