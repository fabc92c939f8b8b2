#!/bin/sh
# Start Grafana with llmsight's provisioning, rendered from the environment.
#
# The provisioning tree is mounted read-only at $LLMSIGHT_PROVISIONING_SRC; it is copied to
# Grafana's (writable) provisioning path, the alert-rule template is rendered with the
# LLMSIGHT_ALERT_* variables (Grafana itself does not interpolate a rule's query model), and the
# contact point is the webhook one when LLMSIGHT_ALERT_WEBHOOK_URL is set, email otherwise.
set -eu

SRC="${LLMSIGHT_PROVISIONING_SRC:-/etc/llmsight/provisioning}"
DST="${GF_PATHS_PROVISIONING:-/etc/grafana/provisioning}"
AWK_SCRIPT="${LLMSIGHT_RENDER_AWK:-/etc/llmsight/render-env.awk}"

mkdir -p "$DST"
cp -R "$SRC"/. "$DST"/
awk -f "$AWK_SCRIPT" "$SRC/alerting/rules.yaml.tmpl" > "$DST/alerting/rules.yaml"
if [ -n "${LLMSIGHT_ALERT_WEBHOOK_URL:-}" ]; then
    contact=webhook
else
    contact=email
fi
awk -f "$AWK_SCRIPT" "$SRC/alerting/contact-point-$contact.yaml.tmpl" > "$DST/alerting/contact-point.yaml"
rm -f "$DST"/alerting/*.tmpl
echo "llmsight: provisioning rendered into $DST (contact point: $contact)"

if [ "${LLMSIGHT_RENDER_ONLY:-}" = "1" ]; then
    exit 0
fi
exec /run.sh "$@"
