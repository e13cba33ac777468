package metrics

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// maxPageBody caps the size of a scraped metrics page.
const maxPageBody = 32 << 20

// noKeepAliveClient is an HTTP client that closes its connection after
// each request: an idle connection would hold an exporter (Dovecot's stats
// process) and so its server's shutdown waiting.
func noKeepAliveClient() *http.Client {
	return &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
}

// scrapePage fetches and parses an exporter's page (Dovecot's OpenMetrics
// stats, a process or node exporter, a client_golang registry): one GET
// bounded by ctx, without keep-alive when client is noKeepAliveClient's,
// the body capped at maxPageBody.
func scrapePage(ctx context.Context, client *http.Client, url string) (map[string]*dto.MetricFamily, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("metrics page %s: %w", url, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("metrics page %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("metrics page %s: HTTP %s", url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPageBody+1))
	if err != nil {
		return nil, fmt.Errorf("metrics page %s: %w", url, err)
	}
	if len(body) > maxPageBody {
		return nil, fmt.Errorf("metrics page %s: page larger than %d bytes", url, maxPageBody)
	}
	fams, err := parsePage(body)
	if err != nil {
		return nil, fmt.Errorf("metrics page %s: %w", url, err)
	}
	return fams, nil
}

// parsePage parses Dovecot 2.3's OpenMetrics text, and the Prometheus
// text format of other exporters, with the Prometheus text parser.
// Dovecot's page is not valid in either format as is: it declares dovecot_build as type "info", and puts _total, _count and _sum
// samples under one counter family. The "# TYPE" lines are dropped, so
// every sample becomes an untyped family of its own name, except the
// histograms, whose TYPE lines are kept so buckets group.
func parsePage(body []byte) (map[string]*dto.MetricFamily, error) {
	var clean bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if bytes.HasPrefix(line, []byte("# TYPE ")) && !bytes.HasSuffix(line, []byte(" histogram")) {
			continue
		}
		if bytes.HasPrefix(line, []byte("# HELP ")) || bytes.Equal(line, []byte("# EOF")) {
			continue
		}
		clean.Write(line)
		clean.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(&clean)
}
