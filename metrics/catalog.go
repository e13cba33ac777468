package metrics

// Type is the Prometheus type of a catalog metric.
type Type string

// The metric types of the catalog.
const (
	TypeCounter   Type = "counter"
	TypeGauge     Type = "gauge"
	TypeHistogram Type = "histogram"
)

// Metric describes one metric of the catalog.
type Metric struct {
	// Name is the metric family name as exposed in the text format
	// (counters with their _total suffix).
	Name string
	// Type is the metric's type.
	Type Type
	// Labels are the label names, in order.
	Labels []string
}

// Catalog returns the metric catalog of mailsim (a contract that dashboards
// depend on: docs/architecture.md, "Contracts"), in a fresh slice. The Go
// and process collectors' go_* and process_* metrics are not part of it.
func Catalog() []Metric {
	return []Metric{
		{"mailsim_client_commands_total", TypeCounter, []string{"protocol", "command", "outcome"}},
		{"mailsim_client_command_duration_seconds", TypeHistogram, []string{"protocol", "command"}},
		{"mailsim_client_bytes_total", TypeCounter, []string{"protocol", "direction"}},
		{"mailsim_client_connections", TypeGauge, []string{"protocol"}},
		{"mailsim_client_logins_total", TypeCounter, []string{"protocol", "outcome"}},
		{"mailsim_client_closed_idle_total", TypeCounter, []string{"protocol"}},
		{"mailsim_devices", TypeGauge, []string{"device", "protocol"}},
		{"mailsim_users", TypeGauge, []string{"group"}},
		{"mailsim_actions_total", TypeCounter, []string{"device", "action"}},
		{"mailsim_actions_cut_total", TypeCounter, []string{"device", "action"}},
		{"mailsim_actions_pending", TypeGauge, []string{"action"}},
		{"mailsim_messages_delivered_total", TypeCounter, []string{"via"}},
		{"mailsim_delivery_attempts_total", TypeCounter, []string{"via", "outcome"}},
		{"mailsim_deliveries_total", TypeCounter, []string{"via", "outcome"}},
		{"mailsim_delivery_queue_wait_seconds", TypeHistogram, []string{"via"}},
		{"mailsim_messages_sent_total", TypeCounter, []string{"protocol"}},
		{"mailsim_submissions_total", TypeCounter, []string{"protocol", "outcome"}},
		{"mailsim_messages_lost", TypeGauge, nil},
		{"mailsim_divergent_messages", TypeGauge, []string{"dimension"}},
		{"mailsim_divergence_ratio", TypeGauge, []string{"group"}},
		{"mailsim_users_converged_ratio", TypeGauge, []string{"group"}},
		{"mailsim_convergence_seconds", TypeHistogram, []string{"change"}},
		{"mailsim_unconverged_changes", TypeGauge, []string{"change", "reason"}},
		{"mailsim_server_commands_total", TypeCounter, []string{"protocol", "command", "outcome"}},
		{"mailsim_server_command_duration_seconds", TypeHistogram, []string{"protocol", "command"}},
		{"mailsim_server_connections", TypeGauge, []string{"protocol"}},
		{"mailsim_server_stored_messages", TypeGauge, []string{"folder"}},
		{"mailsim_server_stored_bytes", TypeGauge, []string{"folder"}},
		{"mailsim_group_commands_total", TypeCounter, []string{"group", "protocol"}},
		{"mailsim_group_bytes_total", TypeCounter, []string{"group", "protocol", "direction"}},
		{"mailsim_group_connection_seconds_total", TypeCounter, []string{"group", "protocol"}},
		{"mailsim_group_logins_total", TypeCounter, []string{"group", "protocol"}},
		{"mailsim_group_connections", TypeGauge, []string{"group"}},
		{"mailsim_group_deliveries_total", TypeCounter, []string{"group"}},
		{"mailsim_capacity_step_users", TypeGauge, nil},
		{"mailsim_capacity_last_step_users", TypeGauge, nil},
		{"mailsim_capacity_steps_total", TypeCounter, []string{"result"}},
		{"mailsim_capacity_users", TypeGauge, nil},
		{"mailsim_capacity_qos_value", TypeGauge, []string{"line"}},
		{"mailsim_run_info", TypeGauge, []string{"scenario", "shard"}},
		{"mailsim_run_elapsed_seconds", TypeGauge, nil},
		{"mailsim_harness_saturated", TypeGauge, nil},
		{"mailsim_harness_cpu_ratio", TypeGauge, nil},
		{"mailsim_harness_sched_latency_p99_seconds", TypeGauge, nil},
		{"mailsim_harness_saturated_windows_total", TypeCounter, nil},
	}
}

// SeriesNames returns every sample name a catalog metric is exposed under:
// the name itself, plus _bucket, _sum and _count for histograms. These are
// the names a PromQL query may use.
func (m Metric) SeriesNames() []string {
	if m.Type == TypeHistogram {
		return []string{m.Name, m.Name + "_bucket", m.Name + "_sum", m.Name + "_count"}
	}
	return []string{m.Name}
}
