package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mailsim/mailsim/internal/mailserver"
	"github.com/mailsim/mailsim/metrics"
)

// cmdServe implements "mailsim serve": the embedded mail server alone,
// until SIGINT or SIGTERM.
func cmdServe(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serveMail(ctx, args, stdout, stderr)
}

// serveMail runs "mailsim serve" until ctx is done. It prints one line per
// listening address ("imap 127.0.0.1:1143", ..., "metrics http://.../metrics")
// and then "ready".
func serveMail(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("serve", "serve [flags]", stderr)
	imapAddr := fs.String("imap", "127.0.0.1:1143", "IMAP listen address (\"\" = off)")
	pop3Addr := fs.String("pop3", "127.0.0.1:1110", "POP3 listen address (\"\" = off)")
	smtpAddr := fs.String("smtp", "127.0.0.1:1587", "SMTP submission listen address (\"\" = off)")
	lmtpAddr := fs.String("lmtp", "127.0.0.1:1024", "LMTP listen address (\"\" = off)")
	imapsAddr := fs.String("imaps", "127.0.0.1:1993", "IMAP implicit-TLS listen address, with --tls (\"\" = off)")
	pop3sAddr := fs.String("pop3s", "127.0.0.1:1995", "POP3 implicit-TLS listen address, with --tls (\"\" = off)")
	users := fs.Int("users", 100, "create users user1..userN")
	password := fs.String("password", "", "password of every user (default $MAILSIM_PASSWORD, else \"pass\")")
	domain := fs.String("domain", "example.com", "mail domain of the users")
	metricsAddr := fs.String("metrics-addr", "", "serve Prometheus /metrics on this address (\"\" = off)")
	useTLS := fs.Bool("tls", false, "offer STARTTLS and the implicit-TLS listeners with a self-signed certificate")
	verbose := fs.Bool("v", false, "log protocol diagnostics to stderr")
	maxCPS := fs.Float64("max-commands-per-second", 0, "limit the server to N commands per second over all protocols; commands past it queue (0 = no limit)")
	pos, code, stopped := parseFlags(fs, args)
	if stopped {
		return code
	}
	if len(pos) > 0 {
		fmt.Fprintf(stderr, "mailsim serve: unexpected argument %q\n", pos[0])
		return exitScenario
	}
	if *users < 0 {
		fmt.Fprintln(stderr, "mailsim serve: --users must be 0 or more")
		return exitScenario
	}
	if !(*maxCPS >= 0) || math.IsInf(*maxCPS, 1) {
		fmt.Fprintln(stderr, "mailsim serve: --max-commands-per-second must be a number, 0 or more")
		return exitScenario
	}
	if *password == "" {
		*password = os.Getenv("MAILSIM_PASSWORD")
	}
	if *password == "" {
		*password = "pass"
	}

	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	opts := mailserver.Options{
		Domain:               *domain,
		Logger:               slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
		MaxCommandsPerSecond: *maxCPS,
	}
	cfg := mailserver.ListenConfig{IMAP: *imapAddr, POP3: *pop3Addr, SMTP: *smtpAddr, LMTP: *lmtpAddr}
	if *useTLS {
		tlsCfg, err := mailserver.SelfSignedTLS()
		if err != nil {
			fmt.Fprintf(stderr, "mailsim serve: %v\n", err)
			return exitFailure
		}
		opts.TLS = tlsCfg
		cfg.IMAPS, cfg.POP3S = *imapsAddr, *pop3sAddr
	}

	reg := metrics.NewRegistry()
	var srv *mailserver.Server
	usage := func() []metrics.FolderUsage {
		var out []metrics.FolderUsage
		for _, u := range srv.Usage() {
			out = append(out, metrics.FolderUsage{Role: u.Role, Messages: u.Messages, Bytes: u.Bytes})
		}
		return out
	}
	opts.Recorder = metrics.NewServerWithOptions(reg, metrics.ServerOptions{Usage: usage, ExportDelivered: true})
	srv = mailserver.New(opts)
	for i := 1; i <= *users; i++ {
		if err := srv.AddUser(fmt.Sprintf("user%d", i), *password); err != nil {
			fmt.Fprintf(stderr, "mailsim serve: %v\n", err)
			return exitFailure
		}
	}
	addrs, err := srv.Listen(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "mailsim serve: %v\n", err)
		return exitFailure
	}
	defer srv.Close()

	for _, l := range []struct{ name, addr string }{
		{"imap", addrs.IMAP}, {"imaps", addrs.IMAPS}, {"pop3", addrs.POP3}, {"pop3s", addrs.POP3S},
		{"smtp", addrs.SMTP}, {"lmtp", addrs.LMTP},
	} {
		if l.addr != "" {
			fmt.Fprintf(stdout, "%s %s\n", l.name, l.addr)
		}
	}
	if *metricsAddr != "" {
		mctx, cancel := context.WithCancel(ctx)
		defer cancel()
		maddr, err := metrics.Serve(mctx, *metricsAddr, reg)
		if err != nil {
			fmt.Fprintf(stderr, "mailsim serve: %v\n", err)
			return exitFailure
		}
		fmt.Fprintf(stdout, "metrics http://%s/metrics\n", maddr)
	}
	limit := ""
	if *maxCPS > 0 {
		limit = fmt.Sprintf(", at most %g commands/s", *maxCPS)
	}
	fmt.Fprintf(stdout, "ready: %d users user1..user%d@%s%s\n", *users, *users, *domain, limit)

	<-ctx.Done()
	if err := srv.Close(); err != nil {
		fmt.Fprintf(stderr, "mailsim serve: %v\n", err)
		return exitFailure
	}
	if *maxCPS > 0 {
		st := srv.LimiterStats()
		fmt.Fprintf(stdout, "rate limit: %d commands served, %d of them waited %s in all, %d still waiting at shutdown\n",
			st.Granted, st.Waited, st.WaitTime.Round(time.Millisecond), st.Cancelled)
	}
	return exitOK
}
