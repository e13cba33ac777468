// Package metrics holds every Prometheus collector of mailsim and the metric
// catalog the dashboards depend on.
//
// Nothing here touches a global registry: callers create one with
// [NewRegistry] (or bring their own) and hand it to [NewClient], [NewServer]
// and [NewHarness]. [Handler] and [Serve] expose a registry over HTTP with
// OpenMetrics content negotiation.
//
// # Collectors
//
//   - [Client] records what the simulated devices and the traffic injector do
//     on the wire (mailsim_client_*, mailsim_actions_total,
//     mailsim_actions_cut_total, mailsim_actions_pending,
//     mailsim_messages_delivered_total, mailsim_delivery_attempts_total,
//     mailsim_deliveries_total, mailsim_delivery_queue_wait_seconds,
//     mailsim_messages_sent_total, mailsim_submissions_total). It also
//     keeps fine-grained latency histograms of its own, for the end-of-run
//     report ([Client.Stats]).
//   - [Server] records the embedded mail server's view of the load
//     (mailsim_server_*), and reads stored messages and bytes from the
//     server at scrape time.
//   - [Harness] exports run-level and divergence gauges, read from the
//     harness's own state at scrape time, and the convergence lag histogram.
//
// # Labels
//
// Every label is bounded. Protocols, commands, outcomes, change kinds,
// actions, delivery paths, folder roles and divergence dimensions are
// normalised against fixed allow-lists ([NormalizeCommand] and friends);
// anything unknown becomes "other". Names taken from the scenario (device
// profiles, groups) are bounded by the scenario and additionally capped.
// Usernames, device IDs and error text never become labels.
//
// # Units
//
// Durations are in seconds. Command latencies and the injector's queue
// waits are wall-clock seconds;
// convergence lag (mailsim_convergence_seconds) is measured in simulated
// seconds, so that a run with time_scale 60 reports lags as the simulated
// people would experience them.
package metrics
