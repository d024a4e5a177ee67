#!/bin/sh
# Start nginx on the configuration osgs rendered into /etc/osgs (the
# nginx-config volume), or on the bootstrap configuration until it has.
#
# Services that ran when osgs rendered the configuration have upstream
# blocks that nginx keeps connections to; their names are resolved when
# nginx loads the file, and nginx refuses a file whose names do not resolve
# (a service that has stopped since). Each generation folder therefore also
# holds nginx-safe.conf, the same configuration with every upstream
# resolved per request. At start, and in the watcher below, nginx uses the
# fast file when it loads and the safe one when it does not.
#
# Background loops: one reloads nginx when a Let's Encrypt certificate is
# renewed by the certbot service, which has no way (and no socket) to
# signal us; the watcher switches between the fast and the safe file, and
# reloads when an upstream's address changes (a service restarted), so a
# kept-alive connection never goes to an address that is gone.
set -eu
conf=/etc/osgs/nginx.conf
lock=/etc/osgs/.switch.lock
if [ ! -s "$conf" ]; then
	cp /usr/local/share/osgs/bootstrap.conf "$conf"
fi

# generation prints the folder the serving configuration came from.
generation() { sed -n 's/^# generation: //p' "$conf" | head -n 1; }

# choose copies the generation's fast file over nginx.conf when it loads,
# else its safe one; it prints which, and fails when neither exists.
choose() {
	gen=$(generation)
	[ -n "$gen" ] && [ -s "$gen/nginx.conf" ] || return 1
	pick="$gen/nginx.conf"
	if ! nginx -t -q -c "$pick" 2>/dev/null && [ -s "$gen/nginx-safe.conf" ]; then
		pick="$gen/nginx-safe.conf"
	fi
	cmp -s "$pick" "$conf" || { cp "$pick" "$conf.next" && mv -f "$conf.next" "$conf"; }
	echo "$pick"
}

# addresses prints each kept-alive upstream's name and current addresses.
addresses() {
	gen=$(generation)
	[ -n "$gen" ] && [ -s "$gen/nginx.conf" ] || return 0
	for host in $(sed -n 's/^ *upstream osgs\.[^ ]* { server \([^: ]*\):.*/\1/p' "$gen/nginx.conf"); do
		echo "$host $(getent ahostsv4 "$host" | awk '{print $1}' | sort -u | tr '\n' ' ')"
	done
}

if ! nginx -t -q -c "$conf" 2>/dev/null; then
	# A service of a kept-alive upstream is down: start per request.
	exec 9>"$lock"
	flock 9
	choose >/dev/null || true
	flock -u 9
	exec 9>&-
fi

(
	sum() { cat /etc/letsencrypt/live/*/fullchain.pem 2>/dev/null | cksum; }
	last=$(sum)
	while sleep "${NGINX_CERT_CHECK_SECONDS:-300}"; do
		now=$(sum)
		if [ "$now" != "$last" ] && nginx -t -q -c "$conf"; then
			nginx -s reload -c "$conf" && last=$now
		fi
	done
) &

(
	last=$(addresses)
	while sleep "${NGINX_UPSTREAM_CHECK_SECONDS:-5}"; do
		now=$(addresses)
		[ "$now" = "$last" ] && continue
		exec 9>"$lock"
		flock 9
		if choose >/dev/null && nginx -s reload -c "$conf"; then
			last=$now
		fi
		flock -u 9
		exec 9>&-
	done
) &

exec nginx -c "$conf" -g 'daemon off;'
