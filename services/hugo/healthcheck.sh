#!/bin/bash
# Healthy when the site is built and darkhttpd accepts connections.
test -s /srv/public/index.html && exec 3<>/dev/tcp/127.0.0.1/8080
