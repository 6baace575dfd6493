package core_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kafkaesk-go/kafkaesk/core"
)

// documentedSettings are the keys ApplySettings documents.
var documentedSettings = []string{
	"client_id", "security_protocol", "sasl_mechanism", "sasl_plain_username", "sasl_plain_password",
	"ssl_cafile", "ssl_certfile", "ssl_keyfile", "acks", "compression_type", "linger_ms",
	"max_batch_size", "max_batch_messages", "max_buffered_messages", "request_timeout_ms",
	"metadata_max_age_ms", "session_timeout_ms", "heartbeat_interval_ms", "auto_commit_interval_ms",
	"enable_auto_commit", "num_partitions", "replication_factor",
}

// settingsBase returns a Config with every field set to a value that no
// setting in the tests below produces, so that a setting written to the
// wrong field, or one that touches another field, shows up.
func settingsBase() core.Config {
	return core.Config{
		Brokers:             []string{"base:1"},
		TopicPrefix:         "base.",
		ReplicationFactor:   9,
		Partitions:          99,
		ClientID:            "base-client",
		SASL:                core.SASL{Mechanism: "PLAIN", Username: "base-user", Password: "base-pass"},
		RequiredAcks:        core.AcksLeader,
		Compression:         core.CompressionSnappy,
		BatchSize:           999,
		BatchBytes:          9999,
		BatchTimeout:        99 * time.Second,
		MaxBufferedMessages: 99999,
		RequestTimeout:      98 * time.Second,
		DialTimeout:         97 * time.Second,
		MetadataMaxAge:      96 * time.Second,
		DisableAutoCommit:   false,
		CommitInterval:      95 * time.Second,
		SessionTimeout:      94 * time.Second,
		HeartbeatInterval:   93 * time.Second,
		Logger:              slog.New(slog.DiscardHandler),
	}
}

// applySettings applies settings to cfg and fails the test on error.
func applySettings(t *testing.T, cfg *core.Config, settings string) {
	t.Helper()
	if err := cfg.ApplySettings([]byte(settings)); err != nil {
		t.Fatalf("ApplySettings(%s): %v", settings, err)
	}
}

// Each setting key writes its own field, in the field's unit, and nothing
// else.
func TestSettingsApplyEachKey(t *testing.T) {
	for _, tt := range []struct {
		settings string
		want     func(*core.Config)
	}{
		{`{"client_id": "svc"}`, func(c *core.Config) { c.ClientID = "svc" }},
		{`{"client": "franz-go"}`, func(c *core.Config) { c.Client = core.ClientFranzGo }},
		{`{"client": "kafka-go"}`, func(c *core.Config) { c.Client = core.ClientKafkaGo }},
		{`{"rebalance": "cooperative"}`, func(c *core.Config) { c.Rebalance = core.RebalanceCooperative }},
		{`{"rebalance": "consumer"}`, func(c *core.Config) { c.Rebalance = core.RebalanceConsumer }},
		{`{"rebalance": "eager"}`, func(c *core.Config) { c.Rebalance = core.RebalanceEager }},
		{`{"transactional_id": "billing-1"}`, func(c *core.Config) { c.TransactionalID = "billing-1" }},
		{`{"sasl_plain_username": "alice"}`, func(c *core.Config) { c.SASL.Username = "alice" }},
		{`{"sasl_plain_password": "s3cret"}`, func(c *core.Config) { c.SASL.Password = "s3cret" }},
		{`{"sasl_mechanism": "SCRAM-SHA-256"}`, func(c *core.Config) { c.SASL.Mechanism = "SCRAM-SHA-256" }},
		{`{"sasl_mechanism": "scram-sha-512"}`, func(c *core.Config) { c.SASL.Mechanism = "SCRAM-SHA-512" }},
		{`{"security_protocol": "PLAINTEXT"}`, func(c *core.Config) {}},
		{`{"security_protocol": "sasl_plaintext"}`, func(c *core.Config) {}},
		{`{"acks": 0}`, func(c *core.Config) { c.RequiredAcks = core.AcksNone }},
		{`{"acks": 1}`, func(c *core.Config) { c.RequiredAcks = core.AcksLeader }},
		{`{"acks": -1}`, func(c *core.Config) { c.RequiredAcks = core.AcksAll }},
		{`{"acks": "all"}`, func(c *core.Config) { c.RequiredAcks = core.AcksAll }},
		{`{"acks": "ALL"}`, func(c *core.Config) { c.RequiredAcks = core.AcksAll }},
		{`{"compression_type": "gzip"}`, func(c *core.Config) { c.Compression = core.CompressionGzip }},
		{`{"compression_type": "LZ4"}`, func(c *core.Config) { c.Compression = core.CompressionLz4 }},
		{`{"compression_type": "Zstd"}`, func(c *core.Config) { c.Compression = core.CompressionZstd }},
		{`{"compression_type": "none"}`, func(c *core.Config) { c.Compression = core.CompressionNone }},
		{`{"compression_type": "NONE"}`, func(c *core.Config) { c.Compression = core.CompressionNone }},
		{`{"linger_ms": 250}`, func(c *core.Config) { c.BatchTimeout = 250 * time.Millisecond }},
		{`{"request_timeout_ms": 40000}`, func(c *core.Config) { c.RequestTimeout = 40 * time.Second }},
		{`{"metadata_max_age_ms": 300000}`, func(c *core.Config) { c.MetadataMaxAge = 5 * time.Minute }},
		{`{"session_timeout_ms": 45000}`, func(c *core.Config) { c.SessionTimeout = 45 * time.Second }},
		{`{"heartbeat_interval_ms": 1500}`, func(c *core.Config) { c.HeartbeatInterval = 1500 * time.Millisecond }},
		{`{"auto_commit_interval_ms": 1}`, func(c *core.Config) { c.CommitInterval = time.Millisecond }},
		{`{"linger_ms": 0}`, func(c *core.Config) { c.BatchTimeout = 0 }},
		{`{"max_batch_size": 16384}`, func(c *core.Config) { c.BatchBytes = 16384 }},
		{`{"max_batch_messages": 500}`, func(c *core.Config) { c.BatchSize = 500 }},
		{`{"max_buffered_messages": 12345}`, func(c *core.Config) { c.MaxBufferedMessages = 12345 }},
		{`{"num_partitions": 12}`, func(c *core.Config) { c.Partitions = 12 }},
		{`{"replication_factor": 3}`, func(c *core.Config) { c.ReplicationFactor = 3 }},
		{`{"enable_auto_commit": false}`, func(c *core.Config) { c.DisableAutoCommit = true }},
		{`{"enable_auto_commit": true}`, func(c *core.Config) { c.DisableAutoCommit = false }},
		{`{}`, func(c *core.Config) {}},
		{` { } `, func(c *core.Config) {}},
		{`{"client_id": "x", "acks": 0, "linger_ms": 10, "num_partitions": 1}`, func(c *core.Config) {
			c.ClientID = "x"
			c.RequiredAcks = core.AcksNone
			c.BatchTimeout = 10 * time.Millisecond
			c.Partitions = 1
		}},
	} {
		t.Run(tt.settings, func(t *testing.T) {
			got := settingsBase()
			applySettings(t, &got, tt.settings)
			want := settingsBase()
			tt.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("after ApplySettings(%s):\n got %+v\nwant %+v", tt.settings, got, want)
			}
		})
	}

	// enable_auto_commit true turns a disabled auto-commit back on.
	cfg := core.Config{DisableAutoCommit: true}
	applySettings(t, &cfg, `{"enable_auto_commit": true}`)
	if cfg.DisableAutoCommit {
		t.Error(`{"enable_auto_commit": true} left DisableAutoCommit true`)
	}
}

// A Config made by settings passes New's validation, and New keeps what the
// settings gave.
func TestSettingsResultAcceptedByNew(t *testing.T) {
	cfg := core.Config{Brokers: validBrokers}
	applySettings(t, &cfg, `{"acks": 0, "compression_type": "LZ4", "linger_ms": 20,
		"session_timeout_ms": 30000, "heartbeat_interval_ms": 3000, "sasl_mechanism": "PLAIN",
		"sasl_plain_username": "u", "sasl_plain_password": "p"}`)
	got := newApp(t, cfg).Config()
	if got.RequiredAcks != core.AcksNone || got.Compression != core.CompressionLz4 ||
		got.BatchTimeout != 20*time.Millisecond || got.SessionTimeout != 30*time.Second {
		t.Errorf("app.Config() = %+v, lost the settings", got)
	}
}

// Every key listed in ApplySettings' documentation is known; an unknown key
// is an error that names it and lists the known keys.
func TestSettingsUnknownKey(t *testing.T) {
	for _, tt := range []struct{ name, settings, key string }{
		{"bogus", `{"bogus_key": 1}`, "bogus_key"},
		{"kafka-python name", `{"bootstrap_servers": "a:1"}`, "bootstrap_servers"},
		{"wrong case", `{"Client_Id": "x"}`, "Client_Id"},
		{"among known keys", `{"acks": 1, "zzz": 1}`, "zzz"},
		{"empty key", `{"": 1}`, `""`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := settingsBase()
			err := cfg.ApplySettings([]byte(tt.settings))
			requireErrorContains(t, err, tt.key, "unknown")
			requireErrorContains(t, err, documentedSettings...)
		})
	}
}

// A value of the wrong type, or out of range, is an error that names the
// key. Negative counts and durations are refused.
func TestSettingsBadValue(t *testing.T) {
	for _, tt := range []struct{ settings, key string }{
		{`{"linger_ms": "fast"}`, "linger_ms"},
		{`{"linger_ms": -1}`, "linger_ms"},
		{`{"linger_ms": 1.5}`, "linger_ms"},
		{`{"request_timeout_ms": -100}`, "request_timeout_ms"},
		{`{"metadata_max_age_ms": -1}`, "metadata_max_age_ms"},
		{`{"session_timeout_ms": -1}`, "session_timeout_ms"},
		{`{"heartbeat_interval_ms": -1}`, "heartbeat_interval_ms"},
		{`{"auto_commit_interval_ms": "5s"}`, "auto_commit_interval_ms"},
		{`{"max_batch_size": -1}`, "max_batch_size"},
		{`{"max_batch_messages": -1}`, "max_batch_messages"},
		{`{"max_buffered_messages": -1}`, "max_buffered_messages"},
		{`{"num_partitions": -1}`, "num_partitions"},
		{`{"num_partitions": "7"}`, "num_partitions"},
		{`{"replication_factor": -1}`, "replication_factor"},
		{`{"client_id": 5}`, "client_id"},
		{`{"client": "sarama"}`, "client"},
		{`{"client": 1}`, "client"},
		{`{"rebalance": "sticky"}`, "rebalance"},
		{`{"transactional_id": 7}`, "transactional_id"},
		{`{"sasl_plain_username": true}`, "sasl_plain_username"},
		{`{"sasl_plain_password": []}`, "sasl_plain_password"},
		{`{"sasl_mechanism": "GSSAPI"}`, "sasl_mechanism"},
		{`{"sasl_mechanism": 1}`, "sasl_mechanism"},
		{`{"security_protocol": "TLS"}`, "security_protocol"},
		{`{"security_protocol": 1}`, "security_protocol"},
		{`{"ssl_cafile": 1}`, "ssl_cafile"},
		{`{"ssl_certfile": {}}`, "ssl_certfile"},
		{`{"ssl_keyfile": false}`, "ssl_keyfile"},
		{`{"acks": 2}`, "acks"},
		{`{"acks": -2}`, "acks"},
		{`{"acks": "leader"}`, "acks"},
		{`{"acks": true}`, "acks"},
		{`{"compression_type": "brotli"}`, "compression_type"},
		{`{"compression_type": 1}`, "compression_type"},
		{`{"enable_auto_commit": "false"}`, "enable_auto_commit"},
		{`{"enable_auto_commit": 0}`, "enable_auto_commit"},
	} {
		t.Run(tt.settings, func(t *testing.T) {
			cfg := settingsBase()
			err := cfg.ApplySettings([]byte(tt.settings))
			requireErrorContains(t, err, fmt.Sprintf("%q", tt.key))
		})
	}
}

// A null value is not a value of the setting's type and is refused, naming
// the key. Bug: json.Unmarshal of null into a string, int or bool leaves the
// zero value without an error, so {"acks": null} silently meant acks 0
// (AcksNone, fire and forget), {"enable_auto_commit": null} turned
// auto-commit off and {"client_id": null} cleared the client id.
func TestSettingsNullValue(t *testing.T) {
	for _, key := range documentedSettings {
		t.Run(key, func(t *testing.T) {
			cfg := settingsBase()
			settings := fmt.Sprintf(`{%q: null}`, key)
			err := cfg.ApplySettings([]byte(settings))
			requireErrorContains(t, err, fmt.Sprintf("%q", key))
			if want := settingsBase(); !reflect.DeepEqual(cfg, want) {
				t.Errorf("ApplySettings(%s) changed the Config:\n got %+v\nwant %+v", settings, cfg, want)
			}
		})
	}
}

// Settings must be one JSON object. Anything else is refused, including
// null, which decodes to an empty map. Bug: null was accepted silently as
// if it were {} (kafkaesk, which spreads the decoded value into keyword
// arguments, fails on it).
func TestSettingsNotAnObject(t *testing.T) {
	for _, settings := range []string{
		``,
		` `,
		`[1]`,
		`[]`,
		`not json`,
		`{} {}`,
		`{"acks": 1} x`,
		`{"acks": 1`,
		`"acks"`,
		`1`,
		`true`,
		`null`,
	} {
		t.Run(settings, func(t *testing.T) {
			cfg := settingsBase()
			if err := cfg.ApplySettings([]byte(settings)); err == nil {
				t.Errorf("ApplySettings(%q) = nil, want an error", settings)
			}
		})
	}
}

// writeTestCert writes a self-signed certificate and its key as PEM files
// in dir, and returns their paths and the certificate's DER bytes.
func writeTestCert(t *testing.T, dir string) (certFile, keyFile string, der []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kafkaesk test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err = x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile = filepath.Join(dir, "cert.pem")
	keyFile = filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, der
}

// jsonSettings formats a settings object from alternating keys and string
// values, quoting the values (file paths) as JSON.
func jsonSettings(kv ...string) string {
	var b strings.Builder
	b.WriteString("{")
	for i := 0; i < len(kv); i += 2 {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q: %q", kv[i], kv[i+1])
	}
	b.WriteString("}")
	return b.String()
}

// security_protocol SSL, ssl_cafile and ssl_certfile/ssl_keyfile build a
// TLS config with at least TLS 1.2, the CA pool and the client certificate.
func TestSettingsTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, der := writeTestCert(t, dir)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	wantPool := x509.NewCertPool()
	wantPool.AddCert(cert)

	t.Run("SSL alone", func(t *testing.T) {
		cfg := settingsBase()
		applySettings(t, &cfg, `{"security_protocol": "SSL"}`)
		if cfg.TLS == nil {
			t.Fatal("TLS is nil")
		}
		if cfg.TLS.MinVersion != tls.VersionTLS12 {
			t.Errorf("TLS.MinVersion = %#x, want TLS 1.2 (%#x)", cfg.TLS.MinVersion, tls.VersionTLS12)
		}
		if cfg.TLS.RootCAs != nil || cfg.TLS.Certificates != nil {
			t.Errorf("TLS has RootCAs or Certificates without ssl_* files: %+v", cfg.TLS)
		}
	})

	t.Run("ssl lower case", func(t *testing.T) {
		cfg := settingsBase()
		applySettings(t, &cfg, `{"security_protocol": "ssl"}`)
		if cfg.TLS == nil {
			t.Fatal("TLS is nil")
		}
	})

	t.Run("cafile", func(t *testing.T) {
		cfg := settingsBase()
		applySettings(t, &cfg, jsonSettings("security_protocol", "SSL", "ssl_cafile", certFile))
		if cfg.TLS == nil {
			t.Fatal("TLS is nil")
		}
		if cfg.TLS.RootCAs == nil || !cfg.TLS.RootCAs.Equal(wantPool) {
			t.Errorf("TLS.RootCAs does not hold exactly the CA from ssl_cafile")
		}
		if cfg.TLS.MinVersion != tls.VersionTLS12 {
			t.Errorf("TLS.MinVersion = %#x, want TLS 1.2", cfg.TLS.MinVersion)
		}
	})

	t.Run("cafile without security_protocol", func(t *testing.T) {
		cfg := settingsBase()
		applySettings(t, &cfg, jsonSettings("ssl_cafile", certFile))
		if cfg.TLS == nil || !cfg.TLS.RootCAs.Equal(wantPool) {
			t.Errorf("ssl_cafile alone did not set TLS.RootCAs: %+v", cfg.TLS)
		}
	})

	t.Run("certfile and keyfile", func(t *testing.T) {
		cfg := settingsBase()
		applySettings(t, &cfg, jsonSettings("security_protocol", "SSL", "ssl_cafile", certFile, "ssl_certfile", certFile, "ssl_keyfile", keyFile))
		if cfg.TLS == nil {
			t.Fatal("TLS is nil")
		}
		if n := len(cfg.TLS.Certificates); n != 1 {
			t.Fatalf("len(TLS.Certificates) = %d, want 1", n)
		}
		if chain := cfg.TLS.Certificates[0].Certificate; len(chain) != 1 || !reflect.DeepEqual(chain[0], der) {
			t.Errorf("TLS.Certificates[0] is not the certificate from ssl_certfile")
		}
		if !cfg.TLS.RootCAs.Equal(wantPool) {
			t.Errorf("TLS.RootCAs does not hold the CA from ssl_cafile")
		}
	})

	t.Run("SASL_SSL with SCRAM-SHA-512", func(t *testing.T) {
		cfg := settingsBase()
		applySettings(t, &cfg, `{"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512",
			"sasl_plain_username": "alice", "sasl_plain_password": "s3cret"}`)
		if want := (core.SASL{Mechanism: "SCRAM-SHA-512", Username: "alice", Password: "s3cret"}); cfg.SASL != want {
			t.Errorf("SASL = %+v, want %+v", cfg.SASL, want)
		}
		if cfg.TLS == nil || cfg.TLS.MinVersion != tls.VersionTLS12 {
			t.Errorf("TLS = %+v, want a config with MinVersion TLS 1.2", cfg.TLS)
		}
	})

	t.Run("existing TLS config is cloned, not changed", func(t *testing.T) {
		orig := &tls.Config{ServerName: "kafka.example", MinVersion: tls.VersionTLS13}
		cfg := settingsBase()
		cfg.TLS = orig
		applySettings(t, &cfg, jsonSettings("ssl_cafile", certFile))
		if cfg.TLS == orig {
			t.Fatal("ApplySettings changed the caller's *tls.Config in place")
		}
		if orig.RootCAs != nil {
			t.Error("ApplySettings set RootCAs on the caller's *tls.Config")
		}
		if cfg.TLS.ServerName != "kafka.example" || cfg.TLS.MinVersion != tls.VersionTLS13 {
			t.Errorf("TLS lost the existing settings: ServerName %q, MinVersion %#x", cfg.TLS.ServerName, cfg.TLS.MinVersion)
		}
		if !cfg.TLS.RootCAs.Equal(wantPool) {
			t.Error("TLS.RootCAs not set")
		}
	})

	t.Run("PLAINTEXT turns TLS off", func(t *testing.T) {
		for _, proto := range []string{"PLAINTEXT", "SASL_PLAINTEXT"} {
			cfg := settingsBase()
			cfg.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
			applySettings(t, &cfg, jsonSettings("security_protocol", proto))
			if cfg.TLS != nil {
				t.Errorf("security_protocol %s left TLS set", proto)
			}
		}
	})

	t.Run("keys not given leave TLS alone", func(t *testing.T) {
		orig := &tls.Config{ServerName: "kafka.example"}
		cfg := settingsBase()
		cfg.TLS = orig
		applySettings(t, &cfg, `{"client_id": "x"}`)
		if cfg.TLS != orig {
			t.Errorf("TLS changed by settings that have no TLS key")
		}
	})
}

// TLS settings that cannot work are errors that name the setting at fault.
func TestSettingsTLSErrors(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, _ := writeTestCert(t, dir)
	missing := filepath.Join(dir, "missing.pem")
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct {
		name     string
		settings string
		want     []string
	}{
		{"cafile missing", jsonSettings("security_protocol", "SSL", "ssl_cafile", missing), []string{`"ssl_cafile"`, "missing.pem"}},
		{"cafile holds no certificate", jsonSettings("ssl_cafile", notPEM), []string{`"ssl_cafile"`, "not.pem"}},
		{"certfile without keyfile", jsonSettings("security_protocol", "SSL", "ssl_certfile", certFile), []string{`"ssl_certfile"`, `"ssl_keyfile"`}},
		{"keyfile without certfile", jsonSettings("ssl_keyfile", keyFile), []string{`"ssl_certfile"`, `"ssl_keyfile"`}},
		{"certfile missing", jsonSettings("ssl_certfile", missing, "ssl_keyfile", keyFile), []string{`"ssl_certfile"`, "missing.pem"}},
		{"keyfile not a key", jsonSettings("ssl_certfile", certFile, "ssl_keyfile", notPEM), []string{`"ssl_keyfile"`}},
		{"PLAINTEXT with cafile", jsonSettings("security_protocol", "PLAINTEXT", "ssl_cafile", certFile), []string{`"security_protocol"`, "ssl_"}},
		{"SASL_PLAINTEXT with certfile", jsonSettings("security_protocol", "SASL_PLAINTEXT", "ssl_certfile", certFile, "ssl_keyfile", keyFile), []string{`"security_protocol"`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := settingsBase()
			requireErrorContains(t, cfg.ApplySettings([]byte(tt.settings)), tt.want...)
		})
	}
}
