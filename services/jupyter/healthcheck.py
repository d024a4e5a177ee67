#!/usr/bin/python3
"""Healthy when the notebook server answers its API."""
import sys
import urllib.request

try:
    with urllib.request.urlopen("http://127.0.0.1:8888/jupyter/api", timeout=4) as r:
        sys.exit(0 if r.status == 200 else 1)
except Exception as e:  # noqa: BLE001
    print(e, file=sys.stderr)
    sys.exit(1)
