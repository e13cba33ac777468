// Package dashboards ships mailsim's Grafana dashboards and provisioning
// files, and tests that every query in them uses only metrics of the
// catalog (metrics.Catalog) and works against a real Prometheus.
//
// The dashboards (Overview, Divergence & sync, Server load, Capacity) are
// plain Grafana JSON with a ${DS_PROMETHEUS} datasource input, importable by
// hand ("Dashboards → New → Import") or provisioned from files with the
// configuration in provisioning/. Every panel filters by the scenario and
// shard template variables by joining on mailsim_run_info.
package dashboards

import "embed"

// FS holds the dashboards (*.json) and the provisioning files
// (provisioning/...), for commands that install or print them.
//
//go:embed *.json provisioning
var FS embed.FS
