#!/bin/sh
# QGIS_SERVER_PROCESSES FastCGI workers on :9993, restarted by multiwatch if
# one dies; SIGTERM reaches multiwatch, which stops them.
set -eu
mkdir -p "$QGIS_OPTIONS_PATH"
exec spawn-fcgi -n -p 9993 -a 0.0.0.0 -- \
	/usr/bin/multiwatch -f "${QGIS_SERVER_PROCESSES:-2}" -- /usr/lib/cgi-bin/qgis_mapserv.fcgi
