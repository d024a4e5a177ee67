#!/bin/bash
# Healthy when both listeners accept connections.
exec 3<>/dev/tcp/127.0.0.1/1883 && exec 4<>/dev/tcp/127.0.0.1/8883
