#!/bin/bash
# Seed an empty site volume with a minimal site, build it, then rebuild on
# every change (hugo --watch, polling, which also works on network volumes)
# while busybox httpd serves /srv/public. The container stops if either exits.
set -euo pipefail
if [ ! -e /site/config.toml ] && [ ! -e /site/hugo.toml ] && [ ! -e /site/config.yaml ]; then
	cp -R /usr/local/share/osgs/hugo-skeleton/. /site/
	# The title as a TOML basic string: backslashes and quotes escaped,
	# control characters made spaces. Written without sed, whose
	# replacement text would read | & and \ as its own.
	title=${OSGS_SITE_TITLE//\\/\\\\}
	title=${title//\"/\\\"}
	title=${title//[[:cntrl:]]/ }
	while IFS= read -r line || [ -n "$line" ]; do
		case $line in
		"title = "*) printf 'title = "%s"\n' "$title" ;;
		*) printf '%s\n' "$line" ;;
		esac
	done </site/config.toml >/site/config.toml.new
	mv /site/config.toml.new /site/config.toml
fi
hugo --source /site --destination /srv/public --baseURL / --cleanDestinationDir --quiet
hugo --source /site --destination /srv/public --baseURL / --cleanDestinationDir --quiet \
	--watch --poll 1s &
busybox httpd -f -p 0.0.0.0:8080 -h /srv/public &
wait -n
exit 1
