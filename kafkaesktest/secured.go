package kafkaesktest

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// The environment variables that point the security tests at a real
// cluster's secured listeners, as scripts/kafka-local writes them
// (KAFKA_SECURITY=1 scripts/kafka-local start; scripts/kafka-local env).
const (
	EnvSASLSSLBrokers = "KAFKA_SASL_SSL_BROKERS" // a SASL_SSL listener: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
	EnvMTLSBrokers    = "KAFKA_MTLS_BROKERS"     // an SSL listener that requires a client certificate
	EnvCAFile         = "KAFKA_CA_FILE"          // the CA of both listeners' certificates
	EnvOtherCAFile    = "KAFKA_OTHER_CA_FILE"    // a CA that signed neither
	EnvClientCert     = "KAFKA_CLIENT_CERT"      // a client certificate the CA signed, and its key
	EnvClientKey      = "KAFKA_CLIENT_KEY"
)

// Secured is a Kafka cluster with two secured listeners, and what a
// client needs to use them: a SASL_SSL listener with a user of each
// mechanism, and an SSL listener that requires a client certificate.
// The broker certificates are valid for 127.0.0.1 only, so that dialing
// localhost shows a hostname mismatch.
type Secured struct {
	SASLBrokers []string // SASL_SSL
	MTLSBrokers []string // SSL, mutual
	Users       []SASL   // PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, in that order

	CAFile         string // signed the brokers' and the client's certificates
	OtherCAFile    string // signed none of them: an untrusted CA
	ClientCertFile string
	ClientKeyFile  string

	real bool // a real cluster's, from the environment
}

// Real reports whether the listeners are a real cluster's, from the
// environment.
func (s *Secured) Real() bool { return s.real }

// NewSecured returns the secured listeners of the real cluster that
// KAFKA_SASL_SSL_BROKERS and its companions name when it is set, and
// otherwise starts two embedded brokers for the test: one SASL_SSL, one
// mutual TLS, with certificates made for the test.
func NewSecured(t testing.TB) *Secured {
	t.Helper()
	if s := realSecured(t); s != nil {
		return s
	}
	certs := TestCertificates(t, "127.0.0.1")
	other := TestCertificates(t)
	users := []SASL{
		{Mechanism: "PLAIN", Username: "plain-user", Password: randomPassword(t)},
		{Mechanism: "SCRAM-SHA-256", Username: "scram256-user", Password: randomPassword(t)},
		{Mechanism: "SCRAM-SHA-512", Username: "scram512-user", Password: randomPassword(t)},
	}
	sasl := New(t, &Options{SASL: users[0], Users: users[1:], TLS: certs.ServerConfig(false)})
	mtls := New(t, &Options{TLS: certs.ServerConfig(true)})
	return &Secured{
		SASLBrokers: sasl.Brokers(), MTLSBrokers: mtls.Brokers(), Users: users,
		CAFile: certs.CAFile, OtherCAFile: other.CAFile,
		ClientCertFile: certs.ClientCertFile, ClientKeyFile: certs.ClientKeyFile,
	}
}

// realSecured reads the real cluster's listeners from the environment;
// nil when KAFKA_SASL_SSL_BROKERS is unset. A partial setting fails the
// test rather than testing less.
func realSecured(t testing.TB) *Secured {
	brokers := os.Getenv(EnvSASLSSLBrokers)
	if brokers == "" {
		return nil
	}
	s := &Secured{
		SASLBrokers: strings.Split(brokers, ","), MTLSBrokers: strings.Split(os.Getenv(EnvMTLSBrokers), ","),
		CAFile: os.Getenv(EnvCAFile), OtherCAFile: os.Getenv(EnvOtherCAFile),
		ClientCertFile: os.Getenv(EnvClientCert), ClientKeyFile: os.Getenv(EnvClientKey),
		real: true,
	}
	for _, m := range []struct{ mech, env string }{{"PLAIN", "PLAIN"}, {"SCRAM-SHA-256", "SCRAM256"}, {"SCRAM-SHA-512", "SCRAM512"}} {
		s.Users = append(s.Users, SASL{Mechanism: m.mech,
			Username: os.Getenv("KAFKA_" + m.env + "_USER"), Password: os.Getenv("KAFKA_" + m.env + "_PASSWORD")})
	}
	for name, v := range map[string]string{EnvMTLSBrokers: s.MTLSBrokers[0], EnvCAFile: s.CAFile, EnvOtherCAFile: s.OtherCAFile,
		EnvClientCert: s.ClientCertFile, EnvClientKey: s.ClientKeyFile,
		"KAFKA_PLAIN_USER": s.Users[0].Username, "KAFKA_SCRAM256_USER": s.Users[1].Username, "KAFKA_SCRAM512_USER": s.Users[2].Username} {
		if v == "" {
			t.Fatalf("kafkaesktest: %s is set but %s is not: source scripts/kafka-local env", EnvSASLSSLBrokers, name)
		}
	}
	return s
}

// Settings returns the --kafka-settings JSON that connects to the
// SASL_SSL listener as user.
func (s *Secured) Settings(user SASL) string {
	return settingsJSON(map[string]string{
		"security_protocol":   "SASL_SSL",
		"sasl_mechanism":      user.Mechanism,
		"sasl_plain_username": user.Username,
		"sasl_plain_password": user.Password,
		"ssl_cafile":          s.CAFile,
	})
}

// MTLSSettings returns the --kafka-settings JSON that connects to the
// mutual-TLS listener with the client certificate.
func (s *Secured) MTLSSettings() string {
	return settingsJSON(map[string]string{
		"security_protocol": "SSL",
		"ssl_cafile":        s.CAFile,
		"ssl_certfile":      s.ClientCertFile,
		"ssl_keyfile":       s.ClientKeyFile,
	})
}

func settingsJSON(m map[string]string) string {
	b, _ := json.Marshal(m)
	return string(b)
}

func randomPassword(t testing.TB) string {
	return strings.TrimSuffix(TopicPrefix(t), ".")[len("test-"):] + "-pw"
}
