package record

import (
	"os"
	"strings"
	"sync"
)

// Host is what a log event says about where it was logged.
type Host struct {
	// Hostname is os.Hostname().
	Hostname string
	// Service is $OTEL_SERVICE_NAME when it is set (the variable
	// OpenTelemetry users set already); else it is derived from the
	// hostname as kafkaesk does: without its last min(dashes, 2)
	// dash-separated parts ("api-server-7d9f8-xk2p9" is "api-server",
	// "web-1" is "web"), or "unknown" with no dash.
	Service string
	// Namespace is read from the Kubernetes service-account namespace
	// file; empty when it is absent.
	Namespace string
	// Cluster is the CLUSTER environment variable.
	Cluster string
}

// EnvServiceName names the environment variable that sets Host.Service.
const EnvServiceName = "OTEL_SERVICE_NAME"

// NamespaceFile is where Kubernetes mounts the pod's namespace.
const NamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

var (
	hostOnce sync.Once
	host     Host
)

// LocalHost returns this process's Host, computed once.
func LocalHost() Host {
	hostOnce.Do(func() {
		name, _ := os.Hostname()
		host = newHost(name, os.Getenv)
		if b, err := os.ReadFile(NamespaceFile); err == nil {
			host.Namespace = strings.TrimSpace(string(b))
		}
	})
	return host
}

// newHost returns the Host of hostname, reading the environment with
// getenv; the namespace is left to LocalHost.
func newHost(hostname string, getenv func(string) string) Host {
	service := strings.TrimSpace(getenv(EnvServiceName))
	if service == "" {
		service = ServiceOf(hostname)
	}
	return Host{Hostname: hostname, Service: service, Cluster: getenv("CLUSTER")}
}

// ServiceOf derives a service name from a hostname, as kafkaesk does.
func ServiceOf(hostname string) string {
	parts := strings.Split(hostname, "-")
	dashes := len(parts) - 1
	if dashes == 0 {
		return "unknown"
	}
	return strings.Join(parts[:len(parts)-min(dashes, 2)], "-")
}
