package app

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"example.com/productapi/platform/config"
)

// The deployment files cannot run here (no Docker engine, no Kubernetes):
// these tests keep them parseable and their load-bearing settings in place.

// yamlDocs parses every document of a YAML file into generic maps.
func yamlDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if doc != nil {
			out = append(out, doc)
		}
	}
}

// dig walks maps and lists: dig(m, "spec", "template", "spec", "containers", 0)
// (deployment files here, fuzzed request bodies in the contract fuzz suite).
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func num(v any) int {
	n, _ := v.(int)
	return n
}

// Every YAML file under deploy/ and configs/, and docker-compose.yml, parses.
func TestDeployYAMLParses(t *testing.T) {
	files := []string{"docker-compose.yml"}
	for _, dir := range []string{"deploy", "configs"} {
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
				files = append(files, p)
			}
			return err
		})
	}
	if len(files) < 10 {
		t.Fatalf("only %d YAML files found: %v", len(files), files)
	}
	for _, f := range files {
		if docs := yamlDocs(t, f); len(docs) == 0 {
			t.Errorf("%s: no YAML document", f)
		}
	}
}

func TestKubernetesManifests(t *testing.T) {
	kinds := map[string]map[string]any{}
	entries, err := os.ReadDir("deploy/k8s")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		for _, d := range yamlDocs(t, filepath.Join("deploy/k8s", e.Name())) {
			if k := str(d["kind"]); k != "" && k != "Kustomization" {
				if str(d["apiVersion"]) == "" || str(dig(d, "metadata", "name")) == "" {
					t.Errorf("%s: %s without apiVersion or metadata.name", e.Name(), k)
				}
				kinds[k] = d
			}
		}
	}
	for _, k := range []string{"Deployment", "Service", "ConfigMap", "Secret", "PodDisruptionBudget", "HorizontalPodAutoscaler", "Job"} {
		if kinds[k] == nil {
			t.Fatalf("deploy/k8s has no %s", k)
		}
	}
	dep := kinds["Deployment"]
	podLabels, _ := dig(dep, "spec", "template", "metadata", "labels").(map[string]any)
	if num(dig(dep, "spec", "replicas")) < 3 {
		t.Error("Deployment: fewer than 3 replicas")
	}
	if num(dig(dep, "spec", "strategy", "rollingUpdate", "maxUnavailable")) != 0 {
		t.Error("Deployment: rolling updates must keep every replica (maxUnavailable 0)")
	}
	c := dig(dep, "spec", "template", "spec", "containers", 0)
	if p := str(dig(c, "readinessProbe", "httpGet", "path")); p != "/readyz" {
		t.Errorf("readiness probe path %q, want /readyz", p)
	}
	if p := str(dig(c, "livenessProbe", "httpGet", "path")); p != "/livez" {
		t.Errorf("liveness probe path %q, want /livez (a database outage must not restart pods)", p)
	}
	if dig(c, "lifecycle", "preStop") == nil {
		t.Error("no preStop hook: pods would stop before endpoints are updated")
	}
	if dig(c, "resources", "requests", "cpu") == nil || dig(c, "resources", "limits", "memory") == nil {
		t.Error("container without cpu request or memory limit (the HPA needs the cpu request)")
	}
	if dig(c, "securityContext", "readOnlyRootFilesystem") != true || dig(c, "securityContext", "allowPrivilegeEscalation") != false {
		t.Error("container securityContext: want readOnlyRootFilesystem true, allowPrivilegeEscalation false")
	}
	if dig(dep, "spec", "template", "spec", "securityContext", "runAsNonRoot") != true {
		t.Error("pod securityContext: runAsNonRoot must be true")
	}
	// The Service, PDB and HPA point at these pods / this Deployment.
	for _, k := range []string{"Service", "PodDisruptionBudget"} {
		sel, _ := dig(kinds[k], "spec", "selector").(map[string]any)
		if ml, ok := sel["matchLabels"].(map[string]any); ok {
			sel = ml
		}
		if len(sel) == 0 {
			t.Errorf("%s: empty selector", k)
		}
		for lk, lv := range sel {
			if podLabels[lk] != lv {
				t.Errorf("%s selects %s=%v, the pods carry %v", k, lk, lv, podLabels[lk])
			}
		}
	}
	pdb := kinds["PodDisruptionBudget"]
	if n := num(dig(pdb, "spec", "minAvailable")); n < 1 || n >= num(dig(dep, "spec", "replicas")) {
		t.Errorf("PDB minAvailable %d: must let one pod go and keep at least one", n)
	}
	hpa := kinds["HorizontalPodAutoscaler"]
	if str(dig(hpa, "spec", "scaleTargetRef", "name")) != str(dig(dep, "metadata", "name")) {
		t.Error("HPA does not target the Deployment")
	}
	if num(dig(hpa, "spec", "minReplicas")) < 3 || num(dig(hpa, "spec", "maxReplicas")) <= num(dig(hpa, "spec", "minReplicas")) {
		t.Error("HPA: minReplicas must be >= 3 and below maxReplicas")
	}
	if args := dig(kinds["Job"], "spec", "template", "spec", "containers", 0, "args"); str(dig(args, 0)) != "migrate" || str(dig(args, 1)) != "up" {
		t.Errorf("migration Job args %v, want [migrate up]", args)
	}

	// The ConfigMap's config file is a valid configuration, and the grace
	// period covers preStop + drain delay + drain timeout.
	cm := str(dig(kinds["ConfigMap"], "data", "config.yaml"))
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(cm), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, func(string) string { return "" })
	if err != nil {
		t.Fatalf("ConfigMap config.yaml: %v", err)
	}
	if cfg.Database.AutoMigrate {
		t.Error("ConfigMap: auto_migrate must be off (the Job migrates)")
	}
	if cfg.HTTP.ShutdownDelay <= 0 || len(cfg.HTTP.TrustedProxies) == 0 {
		t.Error("ConfigMap: want a shutdown_delay and trusted_proxies for the ingress")
	}
	preStop := time.Duration(num(dig(c, "lifecycle", "preStop", "sleep", "seconds"))) * time.Second
	grace := time.Duration(num(dig(dep, "spec", "template", "spec", "terminationGracePeriodSeconds"))) * time.Second
	if need := preStop + cfg.HTTP.ShutdownDelay + cfg.HTTP.ShutdownTimeout; grace <= need {
		t.Errorf("terminationGracePeriodSeconds %s <= preStop %s + shutdown_delay %s + shutdown_timeout %s: SIGKILL mid-drain",
			grace, preStop, cfg.HTTP.ShutdownDelay, cfg.HTTP.ShutdownTimeout)
	}
}

func TestComposeTopology(t *testing.T) {
	doc := yamlDocs(t, "docker-compose.yml")[0]
	services, _ := doc["services"].(map[string]any)
	for _, s := range []string{"lb", "app", "migrate", "postgres", "postgres-replica", "redis", "nats", "prometheus"} {
		if services[s] == nil {
			t.Errorf("docker-compose.yml: no service %q", s)
		}
	}
	if num(dig(services, "app", "deploy", "replicas")) != 3 {
		t.Error("app: want deploy.replicas 3")
	}
	if dig(services, "app", "ports") != nil {
		t.Error("app publishes ports: 3 replicas cannot share a host port; only the lb should")
	}
	// Every bind-mounted file exists, and the app's config file is valid.
	for name, s := range services {
		vols, _ := dig(s, "volumes").([]any)
		for _, v := range vols {
			src, _, _ := strings.Cut(str(v), ":")
			if strings.HasPrefix(src, "./") {
				if _, err := os.Stat(src); err != nil {
					t.Errorf("%s mounts %s: %v", name, src, err)
				}
			}
		}
	}
	// The compose schema itself, when a compose client is installed (no engine needed).
	if p, err := exec.LookPath("docker-compose"); err == nil {
		if out, err := exec.Command(p, "-f", "docker-compose.yml", "config", "-q").CombinedOutput(); err != nil {
			t.Errorf("docker-compose config: %v\n%s", err, out)
		}
	}
	cfgFile := str(dig(services, "app", "environment", "CONFIG_FILE"))
	if _, err := config.Load(cfgFile, func(string) string { return "" }); err != nil {
		t.Errorf("app CONFIG_FILE %q: %v", cfgFile, err)
	}
}

// Every metric an alert rule uses is one the service really exports (or a
// documented external one), so a renamed metric cannot silence an alert.
func TestAlertRulesUseRealMetrics(t *testing.T) {
	external := map[string]bool{
		"up":                     true, // Prometheus's own
		"db_replica_lag_seconds": true, // exported with read replicas (replicas branch)
	}
	s := newServer(t, sqliteStore)
	expect(t, s.do("GET", "/v1/products", "", nil), 200) // one request: the latency histogram exists
	mfs, err := s.app.metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, mf := range mfs {
		have[mf.GetName()] = true
	}
	labels := regexp.MustCompile(`\{[^}]*\}|\b(by|without|on|ignoring)\s*\([^)]*\)|"[^"]*"|\[[^\]]*\]|\b\d[\d.]*(e[-+]?\d+)?\b`)
	ident := regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	functions := map[string]bool{"histogram_quantile": true, "clamp_min": true, "clamp_max": true, "rate": true, "sum": true,
		"max": true, "min": true, "avg": true, "increase": true, "and": true, "or": true, "unless": true, "le": true}
	doc := yamlDocs(t, "configs/prometheus/alerts.yml")[0]
	groups, _ := doc["groups"].([]any)
	n := 0
	for _, g := range groups {
		rules, _ := dig(g, "rules").([]any)
		for _, r := range rules {
			n++
			name, expr := str(dig(r, "alert")), str(dig(r, "expr"))
			if name == "" || expr == "" || str(dig(r, "labels", "severity")) == "" || str(dig(r, "annotations", "summary")) == "" {
				t.Errorf("rule %q: needs alert, expr, labels.severity and annotations.summary", name)
			}
			for _, id := range ident.FindAllString(labels.ReplaceAllString(expr, " "), -1) {
				if functions[id] || external[id] {
					continue
				}
				base := id
				for _, suf := range []string{"_bucket", "_count", "_sum"} {
					if b, ok := strings.CutSuffix(id, suf); ok && have[b] {
						base = b
					}
				}
				if !have[base] {
					t.Errorf("alert %s uses %s, which the service does not export", name, id)
				}
			}
		}
	}
	for _, want := range []string{"error", "latency", "saturat", "breaker", "deadletter", "replicalag", "instancedown"} {
		found := false
		for _, g := range groups {
			rules, _ := dig(g, "rules").([]any)
			for _, r := range rules {
				found = found || strings.Contains(strings.ToLower(str(dig(r, "alert"))), want)
			}
		}
		if !found {
			t.Errorf("no alert rule about %q", want)
		}
	}
	if n < 7 {
		t.Errorf("only %d alert rules", n)
	}
	// promtool, when installed (apt-get install prometheus), checks the PromQL itself.
	if p, err := exec.LookPath("promtool"); err == nil {
		if out, err := exec.Command(p, "check", "rules", "configs/prometheus/alerts.yml").CombinedOutput(); err != nil {
			t.Errorf("promtool check rules: %v\n%s", err, out)
		}
		if out, err := exec.Command(p, "test", "rules", "configs/prometheus/alerts_test.yml").CombinedOutput(); err != nil {
			t.Errorf("promtool test rules: %v\n%s", err, out)
		}
	} else {
		t.Log("promtool not installed: PromQL syntax not checked here")
	}
}
