#!/bin/sh
# Healthy means: the server accepts connections and answers a query.
set -e
pg_isready -q -h /var/run/postgresql -U "${POSTGRES_USER:-osgs}" -d postgres
exec psql -h /var/run/postgresql -U "${POSTGRES_USER:-osgs}" -d postgres -XqtAc 'SELECT 1' >/dev/null
