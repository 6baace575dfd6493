package record

import "testing"

// The service is $OTEL_SERVICE_NAME when set; else derived from the
// hostname as kafkaesk does, "unknown" when the hostname has no dash.
func TestHostService(t *testing.T) {
	for _, tc := range []struct {
		hostname, env, want string
	}{
		{"api-server-7d9f8-xk2p9", "", "api-server"},
		{"web-1", "", "web"},
		{"laptop", "", "unknown"},
		{"laptop", "checkout", "checkout"},
		{"api-server-7d9f8-xk2p9", " billing ", "billing"},
	} {
		env := map[string]string{EnvServiceName: tc.env, "CLUSTER": "eu-1"}
		h := newHost(tc.hostname, func(k string) string { return env[k] })
		if h.Service != tc.want || h.Hostname != tc.hostname || h.Cluster != "eu-1" {
			t.Errorf("newHost(%q) with %s=%q = %+v; want service %q", tc.hostname, EnvServiceName, tc.env, h, tc.want)
		}
	}
}
