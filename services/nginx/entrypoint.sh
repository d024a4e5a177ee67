#!/bin/sh
# Start nginx on the configuration osgs rendered into /etc/osgs (the
# nginx-config volume), or on the bootstrap configuration until it has.
# A background loop reloads nginx when a Let's Encrypt certificate is renewed
# by the certbot service, which has no way (and no socket) to signal us.
set -eu
conf=/etc/osgs/nginx.conf
if [ ! -s "$conf" ]; then
	cp /usr/local/share/osgs/bootstrap.conf "$conf"
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
exec nginx -c "$conf" -g 'daemon off;'
