package kubernetes

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"

	"github.com/mailsim/mailsim/scenarios"
)

// bytesPerDevice is the memory one simulated device needs
// (docs/performance.md: 51.5 KiB per device, harness peak RSS).
const bytesPerDevice = 52 << 10

// kustomization is the part of a kustomization.yaml the tests read.
type kustomization struct {
	Kind       string   `json:"kind"`
	Resources  []string `json:"resources"`
	Components []string `json:"components"`
}

// manifests are the decoded objects of the base, by kind.
type manifests struct {
	jobs        []*batchv1.Job
	deployments []*appsv1.Deployment
	services    []*corev1.Service
	configMaps  []*corev1.ConfigMap
	secrets     []*corev1.Secret
	namespaces  []*corev1.Namespace
	podMonitors []*monitoringv1.PodMonitor
}

// decode decodes every YAML document of data strictly into its Kubernetes
// API type: an unknown field, a duplicate field or an unknown kind fails.
func (m *manifests) decode(name string, data []byte) error {
	for i, doc := range splitDocs(data) {
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal(doc, &head); err != nil {
			return fmt.Errorf("%s document %d: %w", name, i+1, err)
		}
		var err error
		switch head.APIVersion + " " + head.Kind {
		case "batch/v1 Job":
			err = strict(doc, &m.jobs)
		case "apps/v1 Deployment":
			err = strict(doc, &m.deployments)
		case "v1 Service":
			err = strict(doc, &m.services)
		case "v1 ConfigMap":
			err = strict(doc, &m.configMaps)
		case "v1 Secret":
			err = strict(doc, &m.secrets)
		case "v1 Namespace":
			err = strict(doc, &m.namespaces)
		case "monitoring.coreos.com/v1 PodMonitor":
			err = strict(doc, &m.podMonitors)
		default:
			err = fmt.Errorf("unknown kind %q of %q", head.Kind, head.APIVersion)
		}
		if err != nil {
			return fmt.Errorf("%s document %d: %w", name, i+1, err)
		}
	}
	return nil
}

// strict decodes doc into a new T appended to *list.
func strict[T any](doc []byte, list *[]*T) error {
	v := new(T)
	if err := yaml.UnmarshalStrict(doc, v); err != nil {
		return err
	}
	*list = append(*list, v)
	return nil
}

// splitDocs splits a YAML stream at "---" lines, dropping empty documents.
func splitDocs(data []byte) [][]byte {
	var out [][]byte
	for _, d := range bytes.Split(data, []byte("\n---")) {
		if len(bytes.TrimSpace(stripComments(d))) > 0 {
			out = append(out, d)
		}
	}
	return out
}

func stripComments(b []byte) []byte {
	var out []byte
	for _, l := range bytes.Split(b, []byte("\n")) {
		if t := bytes.TrimSpace(l); len(t) > 0 && t[0] != '#' {
			out = append(out, l...)
		}
	}
	return out
}

func readKustomization(t *testing.T, dir string) kustomization {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k kustomization
	if err := yaml.Unmarshal(b, &k); err != nil {
		t.Fatalf("%s/kustomization.yaml: %v", dir, err)
	}
	return k
}

// load decodes every resource the kustomization in dir lists.
func load(t *testing.T, dir string, m *manifests) {
	t.Helper()
	for _, r := range readKustomization(t, dir).Resources {
		b, err := os.ReadFile(filepath.Join(dir, r))
		if err != nil {
			t.Fatal(err)
		}
		if err := m.decode(filepath.Join(dir, r), b); err != nil {
			t.Error(err)
		}
	}
}

// TestKustomizationListsEveryFile: every manifest in a directory is in its
// kustomization, and every listed file exists.
func TestKustomizationListsEveryFile(t *testing.T) {
	for _, dir := range []string{".", "prometheus-operator"} {
		k := readKustomization(t, dir)
		files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, f := range files {
			if b := filepath.Base(f); b != "kustomization.yaml" {
				want = append(want, b)
			}
		}
		got := slices.Sorted(slices.Values(k.Resources))
		if !slices.Equal(got, want) {
			t.Errorf("%s/kustomization.yaml lists %v, the directory holds %v", dir, got, want)
		}
	}
	if k := readKustomization(t, "prometheus-operator"); k.Kind != "Component" {
		t.Errorf("prometheus-operator is a %q, want a kustomize Component (it needs the CRD)", k.Kind)
	}
}

// TestManifestsDecodeStrictly decodes every manifest into the Kubernetes
// API types, and fails on an unknown field.
func TestManifestsDecodeStrictly(t *testing.T) {
	var m manifests
	load(t, ".", &m)
	load(t, "prometheus-operator", &m)
	if len(m.jobs) != 1 || len(m.deployments) != 1 || len(m.services) != 1 || len(m.configMaps) != 1 ||
		len(m.secrets) != 1 || len(m.namespaces) != 1 || len(m.podMonitors) != 1 {
		t.Errorf("objects: %d jobs, %d deployments, %d services, %d configmaps, %d secrets, %d namespaces, %d podmonitors; want one each",
			len(m.jobs), len(m.deployments), len(m.services), len(m.configMaps), len(m.secrets), len(m.namespaces), len(m.podMonitors))
	}
	// The decoder must be able to fail.
	bad := []byte("apiVersion: batch/v1\nkind: Job\nmetadata: {name: x}\nspec:\n  completionsMode: Indexed\n")
	if err := (&manifests{}).decode("bad.yaml", bad); err == nil || !strings.Contains(err.Error(), "completionsMode") {
		t.Errorf("a misspelt field decoded: %v", err)
	}
	if err := (&manifests{}).decode("bad.yaml", []byte("apiVersion: v1\nkind: Pod\n")); err == nil {
		t.Error("an unexpected kind decoded")
	}
}

// TestJobRunsTheShards checks that the Job, the ConfigMap, the Secret and
// the server fit together: an Indexed Job with completions = parallelism =
// --shards, a start time and password from objects that have them, a
// scenario and target that mailsim accepts, metrics where the annotations
// and the PodMonitor look, and memory for a shard's devices.
func TestJobRunsTheShards(t *testing.T) {
	var m manifests
	load(t, ".", &m)
	load(t, "prometheus-operator", &m)
	if len(m.jobs) != 1 || len(m.configMaps) != 1 || len(m.secrets) != 1 || len(m.podMonitors) != 1 {
		t.Fatal("the base lacks its Job, ConfigMap, Secret or PodMonitor")
	}
	job, cm, secret := m.jobs[0], m.configMaps[0], m.secrets[0]
	spec := job.Spec
	if spec.CompletionMode == nil || *spec.CompletionMode != batchv1.IndexedCompletion {
		t.Errorf("completionMode %v, want Indexed ($JOB_COMPLETION_INDEX)", spec.CompletionMode)
	}
	if spec.Completions == nil || spec.Parallelism == nil || *spec.Completions != *spec.Parallelism {
		t.Fatalf("completions %v, parallelism %v: want equal, every shard at once", spec.Completions, spec.Parallelism)
	}
	if spec.BackoffLimitPerIndex == nil || *spec.BackoffLimitPerIndex != 0 {
		t.Errorf("backoffLimitPerIndex %v, want 0: a retried shard misses --start-at", spec.BackoffLimitPerIndex)
	}
	if spec.ActiveDeadlineSeconds == nil {
		t.Error("no activeDeadlineSeconds: the run is not bounded in time")
	}
	pod := spec.Template.Spec
	if pod.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("restartPolicy %q, want Never", pod.RestartPolicy)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	flags := map[string]string{}
	for _, a := range c.Args[2:] {
		k, v, _ := strings.Cut(a, "=")
		flags[k] = v
	}
	if c.Args[0] != "run" {
		t.Errorf("args %v, want mailsim run", c.Args)
	}
	if want := fmt.Sprint(*spec.Completions); flags["--shards"] != want {
		t.Errorf("--shards %q, want the completions %s", flags["--shards"], want)
	}
	if flags["--report"] != "-" {
		t.Errorf("--report %q, want - (the report in the pod's log)", flags["--report"])
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	if flags["--start-at"] != "$(MAILSIM_START_AT)" {
		t.Errorf("--start-at %q, want $(MAILSIM_START_AT)", flags["--start-at"])
	}
	// An undefined variable would reach mailsim as the literal
	// "$(MAILSIM_START_AT)": the key must exist (empty: no wait).
	if ref := env["MAILSIM_START_AT"].ValueFrom; ref == nil || ref.ConfigMapKeyRef == nil || ref.ConfigMapKeyRef.Name != cm.Name {
		t.Errorf("MAILSIM_START_AT does not come from ConfigMap %s", cm.Name)
	} else if _, ok := cm.Data[ref.ConfigMapKeyRef.Key]; !ok {
		t.Errorf("ConfigMap %s has no key %s", cm.Name, ref.ConfigMapKeyRef.Key)
	}
	if ref := env["MAILSIM_PASSWORD"].ValueFrom; ref == nil || ref.SecretKeyRef == nil || ref.SecretKeyRef.Name != secret.Name {
		t.Errorf("MAILSIM_PASSWORD does not come from Secret %s", secret.Name)
	} else if _, ok := secret.StringData[ref.SecretKeyRef.Key]; !ok {
		t.Errorf("Secret %s has no key %s", secret.Name, ref.SecretKeyRef.Key)
	}

	// The scenario and the target are mailsim's, and each shard's devices
	// fit the memory request.
	dir := t.TempDir()
	files := map[string]string{}
	for _, v := range pod.Volumes {
		if v.ConfigMap == nil || v.ConfigMap.Name != cm.Name {
			continue
		}
		for _, it := range v.ConfigMap.Items {
			p := filepath.Join(dir, it.Path)
			if err := os.WriteFile(p, []byte(cm.Data[it.Key]), 0o600); err != nil {
				t.Fatal(err)
			}
			files[it.Path] = p
		}
	}
	mount := ""
	for _, vm := range c.VolumeMounts {
		mount = vm.MountPath
	}
	if c.Args[1] != mount+"/scenario.yaml" || flags["--target"] != mount+"/target.yaml" {
		t.Errorf("args %v do not name the mounted scenario.yaml and target.yaml under %s", c.Args, mount)
	}
	s, err := scenarios.Load(files["scenario.yaml"], nil)
	if err != nil {
		t.Fatalf("the ConfigMap's scenario: %v", err)
	}
	tg, err := scenarios.LoadTarget(files["target.yaml"], nil)
	if err != nil {
		t.Fatalf("the ConfigMap's target: %v", err)
	}
	if s, err = s.Retarget(tg); err != nil {
		t.Fatal(err)
	}
	plan, err := scenarios.NewPlan(s, scenarios.PlanOptions{Shard: scenarios.Shard{Index: 1, Count: int(*spec.Completions)}})
	if err != nil {
		t.Fatal(err)
	}
	devices := 0
	for _, u := range plan.Users {
		devices += len(u.Devices)
	}
	need := resource.NewQuantity(int64(devices)*bytesPerDevice, resource.BinarySI)
	if req := c.Resources.Requests[corev1.ResourceMemory]; req.Cmp(*need) < 0 {
		t.Errorf("memory request %s below %s for shard 1's %d devices", req.String(), need.String(), devices)
	}
	if lim, req := c.Resources.Limits[corev1.ResourceMemory], c.Resources.Requests[corev1.ResourceMemory]; lim.Cmp(req) < 0 {
		t.Errorf("memory limit %s below the request %s", lim.String(), req.String())
	}

	// Metrics: --metrics-addr, the container port, the annotations and
	// the PodMonitor agree.
	_, port, _ := strings.Cut(flags["--metrics-addr"], ":")
	ann := spec.Template.Annotations
	if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/port"] != port {
		t.Errorf("annotations %v, want scraping of port %s", ann, port)
	}
	named := false
	for _, p := range c.Ports {
		named = named || (p.Name == "metrics" && fmt.Sprint(p.ContainerPort) == port)
	}
	pm := m.podMonitors[0]
	if !named || len(pm.Spec.PodMetricsEndpoints) == 0 || pm.Spec.PodMetricsEndpoints[0].Port == nil ||
		*pm.Spec.PodMetricsEndpoints[0].Port != "metrics" {
		t.Errorf("the PodMonitor scrapes no port named metrics on %s", port)
	}
}

// TestKustomizeBuild builds the base with the PodMonitor component
// (kubectl kustomize, offline) and decodes the result strictly; the shard
// pods carry the label the PodMonitor selects.
func TestKustomizeBuild(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl not found: install it to build the kustomization")
	}
	base, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	overlay := t.TempDir()
	// kustomize takes no absolute roots: name the base relative to the
	// overlay.
	rel, err := filepath.Rel(overlay, base)
	if err != nil {
		t.Fatal(err)
	}
	k := fmt.Sprintf("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [%q]\ncomponents: [%q]\n",
		rel, filepath.Join(rel, "prometheus-operator"))
	if err := os.WriteFile(filepath.Join(overlay, "kustomization.yaml"), []byte(k), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(kubectl, "kustomize", overlay).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl kustomize: %v\n%s", err, out)
	}
	var m manifests
	if err := m.decode("kustomize output", out); err != nil {
		t.Fatal(err)
	}
	if len(m.jobs) != 1 || len(m.podMonitors) != 1 || len(m.deployments) != 1 {
		t.Fatalf("built %d jobs, %d podmonitors, %d deployments", len(m.jobs), len(m.podMonitors), len(m.deployments))
	}
	sel := m.podMonitors[0].Spec.Selector.MatchLabels
	for name, labels := range map[string]map[string]string{
		"the shards":    m.jobs[0].Spec.Template.Labels,
		"mailsim serve": m.deployments[0].Spec.Template.Labels,
	} {
		for k, v := range sel {
			if labels[k] != v {
				t.Errorf("the PodMonitor selects %s=%s; the pods of %s have %v", k, v, name, labels)
			}
		}
	}
	if ns := m.jobs[0].Namespace; ns != "mailsim" {
		t.Errorf("the Job is in namespace %q, want mailsim", ns)
	}
}
