// Package deploy holds an example deployment of mailsim with Prometheus and
// Grafana (docker-compose.yml, prometheus.yml, Dockerfile) and a test that
// checks its configuration.
package deploy
