#!/bin/sh
# Runs as root only to prepare: the password file is hashed by
# mosquitto_passwd -U (the password is never an argument), the certificate
# and key are copied for the mosquitto user, and mosquitto drops to that user.
set -eu
umask 077
run=/mosquitto/run
printf '%s:%s\n' "$MQTT_USER" "$(cat /run/secrets/mqtt_password)" > "$run/passwd"
mosquitto_passwd -U "$run/passwd"
cp /run/secrets/site_cert "$run/site.crt"
cp /run/secrets/site_key "$run/site.key"
chown mosquitto:mosquitto "$run/passwd" "$run/site.crt" "$run/site.key" /mosquitto/data
exec mosquitto -c /etc/mosquitto/osgs.conf
