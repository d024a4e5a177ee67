#!/bin/sh
# Starts File Browser (filebrowser/filebrowser v2.63.23) with proxy
# authentication: nginx checks the basic-auth user and passes its name in
# X-Osgs-User, a header nginx always sets itself (a client's own value is
# overwritten). File Browser keeps its settings in its database, and
# command-line flags such as --noauth apply only when that database is first
# created (cmd/root.go, quickSetup), so the settings are written on every
# start. Users named by the header are created on first use without admin
# or execute rights (auth/proxy.go, createUser); command execution and
# symlinks out of a user's scope stay off (cmd/root.go's defaults, set here
# too in case a database says otherwise).
set -eu
db=/database/filebrowser.db
if [ ! -s "$db" ]; then
	filebrowser config init --database "$db" >/dev/null
fi
filebrowser config set --database "$db" \
	--auth.method=proxy --auth.header=X-Osgs-User \
	--address 0.0.0.0 --port 8080 --baseURL /files --root /srv >/dev/null
exec filebrowser --database "$db" --disableExec --followExternalSymlinks=false
