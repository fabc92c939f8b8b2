#!/bin/sh
# Start Grafana with llmsight's provisioning and the alert rules generated from the monitor file.
#
# The provisioning tree (datasource, dashboards) is mounted read-only at $LLMSIGHT_PROVISIONING_SRC
# and copied to Grafana's (writable) provisioning path. The alert rules, contact points and policy
# come from the one-shot `grafana-rules` service (`llmsight monitor grafana-rules`), which writes
# them from llmsight.yaml into a volume mounted here at $LLMSIGHT_ALERTING_SRC: the monitors and
# Grafana's rules are one file, so they cannot disagree.
set -eu

SRC="${LLMSIGHT_PROVISIONING_SRC:-/etc/llmsight/provisioning}"
ALERTING="${LLMSIGHT_ALERTING_SRC:-/etc/llmsight/alerting}"
DST="${GF_PATHS_PROVISIONING:-/etc/grafana/provisioning}"

mkdir -p "$DST/alerting"
cp -R "$SRC"/. "$DST"/
found=0
for f in "$ALERTING"/*.yaml; do
    [ -f "$f" ] || continue
    cp "$f" "$DST/alerting/"
    found=1
done
if [ "$found" = 0 ]; then
    echo "llmsight: no generated alert rules in $ALERTING (did the grafana-rules service run?)" >&2
    exit 1
fi
echo "llmsight: provisioning in $DST (alert rules from $ALERTING)"

if [ "${LLMSIGHT_RENDER_ONLY:-}" = "1" ]; then
    exit 0
fi
exec /run.sh "$@"
