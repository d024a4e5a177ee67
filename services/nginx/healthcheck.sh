#!/bin/sh
# Healthy when nginx answers on port 80.
exec curl -fsS -o /dev/null --max-time 4 http://127.0.0.1/osgs-health
