package metrics

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestHandlerNegotiatesOpenMetrics(t *testing.T) {
	f := newFixture(t, 2)
	srv := httptest.NewServer(Handler(f.reg))
	defer srv.Close()
	tests := []struct {
		name, accept, wantType, wantBody string
	}{
		{"openmetrics", "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5", "application/openmetrics-text", "# EOF"},
		{"classic text", "text/plain", "text/plain", "mailsim_client_commands_total{"},
		{"no accept", "", "text/plain", "mailsim_run_info{"},
	}
	client := &http.Client{Timeout: 10 * time.Second}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.accept != "" {
				req.Header.Set("Accept", tt.accept)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, tt.wantType) {
				t.Errorf("Content-Type %q, want %s", ct, tt.wantType)
			}
			if !strings.Contains(string(body), tt.wantBody) {
				t.Errorf("body lacks %q", tt.wantBody)
			}
		})
	}
}

func TestServeUntilContextDone(t *testing.T) {
	f := newFixture(t, 1)
	ctx, cancel := context.WithCancel(context.Background())
	addr, err := Serve(ctx, "", f.reg)
	if err != nil {
		t.Fatal(err)
	}
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || !tcp.IP.IsLoopback() {
		t.Fatalf("Serve with no address listened on %v, want loopback", addr)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + addr.String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "mailsim_devices{") {
		t.Fatalf("GET /metrics: %s, body lacks mailsim_devices", resp.Status)
	}
	cancel()
	// After ctx is done the listener closes: connecting eventually fails.
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", addr.String(), time.Second)
		if err != nil {
			break
		}
		c.Close()
		if i > 500 {
			t.Fatal("still accepting connections long after ctx was done")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestServeBadAddress(t *testing.T) {
	tests := []string{"not-an-address", "127.0.0.1:99999", "127.0.0.1:port"}
	for _, addr := range tests {
		if _, err := Serve(context.Background(), addr, NewRegistry()); err == nil {
			t.Errorf("Serve(%q) succeeded, want an error", addr)
		} else if !strings.Contains(err.Error(), "metrics") {
			t.Errorf("Serve(%q) error %q does not say what failed", addr, err)
		}
	}
}

func TestServePortOnlyIsLoopback(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, err := Serve(ctx, ":0", NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if !addr.(*net.TCPAddr).IP.IsLoopback() {
		t.Errorf("Serve(\":0\") listened on %v, want loopback", addr)
	}
}

// TestServeProfiles checks that the metrics address serves the Go profiles
// of the process under /debug/pprof/, in the formats go tool pprof reads.
func TestServeProfiles(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, err := Serve(ctx, "", NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path, want string
		gzipped    bool
	}{
		{"/debug/pprof/", "goroutine", false},
		{"/debug/pprof/heap?debug=1", "heap profile:", false},
		{"/debug/pprof/goroutine?debug=1", "TestServeProfiles", false},
		{"/debug/pprof/cmdline", "metrics.test", false},
		{"/debug/pprof/allocs", "", true},
		{"/debug/pprof/profile?seconds=1", "", true},
		{"/", "/debug/pprof/", false},
	}
	client := &http.Client{Timeout: 20 * time.Second}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, err := client.Get("http://" + addr.String() + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: %s: %s", tt.path, resp.Status, body)
			}
			if tt.gzipped && (len(body) < 2 || body[0] != 0x1f || body[1] != 0x8b) {
				t.Errorf("GET %s: not a gzipped profile (%d bytes)", tt.path, len(body))
			}
			if !strings.Contains(string(body), tt.want) {
				t.Errorf("GET %s: body lacks %q", tt.path, tt.want)
			}
		})
	}
}
