package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"
	dto "github.com/prometheus/client_model/go"

	"github.com/mailsim/mailsim/scenarios"
)

// pushTimeout bounds the push of the final values.
const pushTimeout = 30 * time.Second

// pushFinal pushes the run's final mailsim_* values to a Prometheus
// Pushgateway (job "mailsim", instance "SCENARIO i/n"), for runs too short
// to be scraped. The Go and process collectors are left out: they
// describe this process, which is gone once the push is read. It gives up
// after pushTimeout, or when ctx ends (a ^C once the run is over).
func pushFinal(ctx context.Context, url string, g prometheus.Gatherer, plan *scenarios.Plan) error {
	onlyMailsim := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		mfs, err := g.Gather()
		kept := mfs[:0]
		for _, mf := range mfs {
			if strings.HasPrefix(mf.GetName(), "mailsim_") {
				kept = append(kept, mf)
			}
		}
		return kept, err
	})
	err := push.New(url, "mailsim").
		Gatherer(onlyMailsim).
		// mailsim_run_info carries scenario and shard as labels already;
		// the grouping key tells runs apart without clashing with them.
		Grouping("instance", plan.Scenario.Name+" "+plan.Shard.String()).
		Client(&http.Client{Timeout: pushTimeout}).
		PushContext(ctx)
	if err != nil {
		return fmt.Errorf("--pushgateway %s: %w", url, err)
	}
	return nil
}
