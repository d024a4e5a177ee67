#!/usr/bin/python3
"""Healthy when MapProxy answers a WMS GetCapabilities request."""
import sys
import urllib.request

url = "http://127.0.0.1:8080/mapproxy/service?SERVICE=WMS&REQUEST=GetCapabilities"
try:
    with urllib.request.urlopen(url, timeout=4) as r:
        sys.exit(0 if r.status == 200 else 1)
except Exception as e:  # noqa: BLE001 - any failure is "unhealthy"
    print(e, file=sys.stderr)
    sys.exit(1)
