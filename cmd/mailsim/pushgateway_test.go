package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/faketest"
)

// TestPushgateway runs a short scenario with --pushgateway against a real
// Prometheus Pushgateway on loopback (Debian package
// prometheus-pushgateway) and reads the pushed values back.
func TestPushgateway(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("prometheus-pushgateway")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("prometheus-pushgateway is not installed, and CI installs it")
		}
		t.Skip("prometheus-pushgateway not installed (apt-get install prometheus-pushgateway); skipping")
	}
	addr := faketest.FreeAddr(t) // the Pushgateway listens on it
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var log bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "--web.listen-address="+addr)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	client := &http.Client{Timeout: 5 * time.Second}
	get := func(path string) (int, string) {
		resp, err := client.Get("http://" + addr + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for {
		if code, _ := get("/-/ready"); code == http.StatusOK {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the pushgateway never got ready:\n%s", log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	var out, errb strings.Builder
	code := run([]string{"run", "quickstart", "--duration", "3s", "--settle", "1s", "--quiet",
		"--pushgateway", "http://" + addr}, &out, &errb)
	if code != exitOK && code != exitThresholds {
		t.Fatalf("exit %d\n%s", code, errb.String())
	}
	_, body := get("/metrics")
	for _, want := range []string{
		`mailsim_messages_delivered_total{instance="quickstart 1/1",job="mailsim",via="lmtp"}`,
		`mailsim_run_info{instance="quickstart 1/1",job="mailsim",scenario="quickstart",shard="1/1"} 1`,
	} {
		name := want[:strings.Index(want, "}")+1]
		if !strings.Contains(body, name) {
			t.Errorf("the pushgateway lacks %s", want)
		}
	}
	if strings.Contains(body, `go_goroutines{instance="quickstart 1/1",job="mailsim"`) {
		t.Error("the Go runtime metrics of a finished process were pushed")
	}
}
