#!/bin/sh
# Healthy means: the server accepts connections, answers a query, and is
# not replaying WAL (after postgis:recover, services may only connect once
# the server has been promoted at the recovery target).
set -e
pg_isready -q -h /var/run/postgresql -U "${POSTGRES_USER:-osgs}" -d postgres
recovering=$(psql -h /var/run/postgresql -U "${POSTGRES_USER:-osgs}" -d postgres -XqtAc 'SELECT pg_is_in_recovery()')
[ "$recovering" = f ]
