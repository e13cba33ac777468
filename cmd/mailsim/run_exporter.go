package main

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mailsim/mailsim/metrics"
)

// registerServerExporter re-exports a real server's own metrics
// (target.metrics_url, Dovecot's OpenMetrics stats) as mailsim_server_*, so
// the same dashboards work for the embedded server and a real one.
func registerServerExporter(reg prometheus.Registerer, url string) error {
	d, err := metrics.NewDovecot(metrics.DovecotOptions{URL: url})
	if err != nil {
		return fmt.Errorf("target.metrics_url: %w", err)
	}
	if err := reg.Register(d); err != nil {
		return fmt.Errorf("target.metrics_url: %w", err)
	}
	return nil
}
