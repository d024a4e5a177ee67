#!/bin/sh
# Healthy when a FastCGI worker answers a request (no project: QGIS Server
# replies with its own error document, which is an answer).
out=$(REQUEST_METHOD=GET QUERY_STRING='SERVICE=WMS&REQUEST=GetCapabilities' SCRIPT_NAME=/ SERVER_NAME=localhost SERVER_PORT=80 \
	cgi-fcgi -bind -connect 127.0.0.1:9993 2>&1) || exit 1
case "$out" in *Status:*|*Content-Type*|*Content-type*) exit 0 ;; *) exit 1 ;; esac
