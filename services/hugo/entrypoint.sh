#!/bin/bash
# Seed an empty site volume with a minimal site, build it, then rebuild on
# every change (hugo --watch, polling, which also works on network volumes)
# while busybox httpd serves /srv/public. The container stops if either exits.
set -euo pipefail
if [ ! -e /site/config.toml ] && [ ! -e /site/hugo.toml ] && [ ! -e /site/config.yaml ]; then
	cp -R /usr/local/share/osgs/hugo-skeleton/. /site/
	title=${OSGS_SITE_TITLE//\"/}
	sed -i "s|^title = .*|title = \"${title}\"|" /site/config.toml
fi
hugo --source /site --destination /srv/public --baseURL / --cleanDestinationDir --quiet
hugo --source /site --destination /srv/public --baseURL / --cleanDestinationDir --quiet \
	--watch --poll 1s &
busybox httpd -f -p 0.0.0.0:8080 -h /srv/public &
wait -n
exit 1
