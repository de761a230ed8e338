package config

import (
	"strings"
	"testing"
)

// The standard OpenTelemetry variables override tracing.*; nothing set
// means exporting is off with the documented defaults.
func TestTracingFromEnvironment(t *testing.T) {
	t.Chdir(t.TempDir())
	cfg, err := Load("", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if want := (Tracing{ServiceName: "productapi", Sampler: "parentbased_traceidratio", SampleRatio: 1}); cfg.Tracing != want {
		t.Fatalf("defaults %+v, want %+v", cfg.Tracing, want)
	}
	cfg, err = Load("", env(map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SERVICE_NAME": "shop-api",
		"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.25",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if want := (Tracing{OTLPEndpoint: "http://collector:4318", ServiceName: "shop-api", Sampler: "traceidratio", SampleRatio: 0.25}); cfg.Tracing != want {
		t.Fatalf("from env %+v, want %+v", cfg.Tracing, want)
	}
}

func TestBadTracingSettingsNameTheSetting(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, tc := range []struct {
		name    string
		env     map[string]string
		setting string
	}{
		{"endpoint scheme", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "grpc://c:4317"}, "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{"endpoint without host", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://"}, "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{"unknown sampler", map[string]string{"OTEL_TRACES_SAMPLER": "sometimes"}, "OTEL_TRACES_SAMPLER"},
		{"ratio not a number", map[string]string{"OTEL_TRACES_SAMPLER_ARG": "half"}, "OTEL_TRACES_SAMPLER_ARG"},
		{"ratio above one", map[string]string{"OTEL_TRACES_SAMPLER_ARG": "1.5"}, "OTEL_TRACES_SAMPLER_ARG"},
		{"ratio NaN", map[string]string{"OTEL_TRACES_SAMPLER_ARG": "NaN"}, "OTEL_TRACES_SAMPLER_ARG"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load("", env(tc.env))
			if err == nil {
				t.Fatal("expected an error")
			}
			if msg := err.Error(); !strings.Contains(msg, tc.setting) || strings.Contains(msg, "\n") {
				t.Fatalf("error %q should be one line naming %s", msg, tc.setting)
			}
		})
	}
}
