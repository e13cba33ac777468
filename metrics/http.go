package metrics

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DefaultAddr is the address [Serve] listens on when given none: a free
// port on the loopback interface.
const DefaultAddr = "127.0.0.1:0"

// Handler returns an HTTP handler that serves the metrics gathered from g,
// negotiating OpenMetrics with scrapers that ask for it (Prometheus does)
// and the classic text format otherwise.
func Handler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{
		EnableOpenMetrics:   true,
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 8,
		Timeout:             10 * time.Second,
	})
}

// Serve listens on addr and serves g's metrics at /metrics, and the
// process's Go profiles at /debug/pprof/ (see [ProfileHandler]), until ctx is
// done, then shuts the server down (waiting up to 5 s for scrapes in
// flight). It returns once the listener is bound, with its address (useful
// with port 0). An empty addr means [DefaultAddr]; an address without a host
// (":9464") listens on 127.0.0.1 only — name 0.0.0.0 or [::] explicitly to
// listen on every interface.
func Serve(ctx context.Context, addr string, g prometheus.Gatherer) (net.Addr, error) {
	if addr == "" {
		addr = DefaultAddr
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("metrics address %q: %w", addr, err)
	}
	if host == "" {
		addr = net.JoinHostPort("127.0.0.1", port)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", Handler(g))
	mux.Handle("/debug/pprof/", ProfileHandler())
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "mailsim: metrics at /metrics, Go profiles at /debug/pprof/")
	})
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		// pprof refuses a CPU profile or trace whose ?seconds= reaches
		// the write timeout: this one allows the default 30 s and up to
		// 110 s.
		WriteTimeout: profileWriteTimeout,
		IdleTimeout:  2 * time.Minute,
		BaseContext:  func(net.Listener) context.Context { return ctx },
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Serve returns http.ErrServerClosed after Shutdown; any other
		// error ends serving, which scrapers report as a down target.
		_ = srv.Serve(ln)
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if srv.Shutdown(sctx) != nil {
			srv.Close()
		}
		<-done
	}()
	return ln.Addr(), nil
}

// profileWriteTimeout bounds the writing of one response of [Serve]; a CPU
// profile or trace (?seconds=N) must end 10 s before it.
const profileWriteTimeout = 2 * time.Minute

// ProfileHandler returns an HTTP handler for the Go profiles of this process
// under /debug/pprof/ (the index, cmdline, profile, symbol, trace and every
// runtime/pprof profile: heap, allocs, goroutine, block, mutex,
// threadcreate), as net/http/pprof serves them, for "go tool pprof
// http://ADDR/debug/pprof/profile". It must be mounted at /debug/pprof/.
func ProfileHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}
