// Package kubernetes holds mailsim's Kubernetes manifests (an Indexed Job
// of shards, the scenario's ConfigMap, the credentials' Secret, mailsim
// serve as Deployment and Service, a PodMonitor component) and a test that
// decodes them strictly into the Kubernetes API types, offline; see
// docs/distributed.md.
package kubernetes
