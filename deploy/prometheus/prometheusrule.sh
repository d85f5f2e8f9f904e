#!/usr/bin/env bash
# Prints the rules of this folder as one Prometheus Operator PrometheusRule, for clusters where
# the Operator loads rules:  deploy/prometheus/prometheusrule.sh [NAME] | kubectl apply -n NS -f -
# Add the labels your Prometheus's ruleSelector wants with `kubectl label` afterwards.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
name=${1:-bulwark}
printf 'apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata:\n  name: %s\n' "$name"
printf '  labels:\n    app.kubernetes.io/name: bulwark\nspec:\n  groups:\n'
for file in "$here/bulwark-recording.rules.yml" "$here/bulwark-alerts.rules.yml"; do
  # Each file is `groups:` and a list: keep the list, two columns further in.
  sed -e '/^groups:/d' -e '/^#/d' -e 's/^./  &/' "$file"
done
