package core

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

// ApplySettings applies a JSON object of client settings to c, as the
// kafkaesk worker's --kafka-settings flag does. Keys use kafkaesk's and
// aiokafka's names where they have one:
//
//	client                     "kafka-go" (the default) or "franz-go"
//	rebalance                  "eager" (the default), "cooperative" or "consumer" (KIP-848); the last two need franz-go
//	client_id                  string
//	transactional_id           string; needs franz-go (see Config.TransactionalID)
//	security_protocol          "PLAINTEXT", "SSL", "SASL_PLAINTEXT" or "SASL_SSL"
//	sasl_mechanism             "PLAIN", "SCRAM-SHA-256" or "SCRAM-SHA-512"
//	sasl_plain_username        string
//	sasl_plain_password        string
//	ssl_cafile                 path to PEM CA certificates
//	ssl_certfile, ssl_keyfile  paths to a PEM client certificate and key
//	acks                       0, 1, -1 or "all"
//	compression_type           "none", "gzip", "snappy", "lz4" or "zstd"
//	linger_ms                  producer batch timeout
//	max_batch_size             producer batch bytes
//	max_batch_messages         producer batch messages
//	max_buffered_messages      unacknowledged messages before PublishAsync waits
//	request_timeout_ms, metadata_max_age_ms, session_timeout_ms,
//	heartbeat_interval_ms, auto_commit_interval_ms   milliseconds
//	enable_auto_commit         bool
//	num_partitions             partitions of created topics
//	replication_factor         replication factor of created topics
//
// An unknown key, or a value of the wrong type, is an error that names the
// key; nothing is silently ignored. Keys not given leave c unchanged.
func (c *Config) ApplySettings(settings []byte) error {
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(settings))
	if err := dec.Decode(&raw); err != nil {
		return fmt.Errorf("settings are not a JSON object: %w", err)
	}
	if raw == nil {
		return fmt.Errorf("settings are not a JSON object: got null")
	}
	if dec.More() {
		return fmt.Errorf("settings have data after the JSON object")
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	slices.Sort(keys) // report problems in a stable order
	// Apply to a copy, so that a failed call leaves c as it was.
	next := *c
	var tlsFiles tlsFiles
	for _, k := range keys {
		apply, ok := settingAppliers[k]
		if !ok {
			return fmt.Errorf("unknown setting %q (known: %s)", k, strings.Join(knownSettings(), ", "))
		}
		if bytes.Equal(bytes.TrimSpace(raw[k]), []byte("null")) {
			return fmt.Errorf("setting %q: null is not allowed; leave the key out to keep the default", k)
		}
		if err := apply(&next, &tlsFiles, raw[k]); err != nil {
			return fmt.Errorf("setting %q: %w", k, err)
		}
	}
	if err := tlsFiles.apply(&next); err != nil {
		return err
	}
	*c = next
	return nil
}

type settingApplier func(c *Config, tf *tlsFiles, v json.RawMessage) error

var settingAppliers = map[string]settingApplier{
	"client": func(c *Config, _ *tlsFiles, v json.RawMessage) error {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return fmt.Errorf("want a string: %w", err)
		}
		switch s {
		case ClientKafkaGo, ClientFranzGo:
			c.Client = s
			return nil
		}
		return fmt.Errorf("%q is not one of %s, %s", s, ClientKafkaGo, ClientFranzGo)
	},
	"rebalance": func(c *Config, _ *tlsFiles, v json.RawMessage) error {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return fmt.Errorf("want a string: %w", err)
		}
		switch r := Rebalance(s); r {
		case RebalanceEager, RebalanceCooperative, RebalanceConsumer:
			c.Rebalance = r
			return nil
		}
		return fmt.Errorf("%q is not one of %s, %s, %s", s, RebalanceEager, RebalanceCooperative, RebalanceConsumer)
	},
	"client_id":           stringSetting(func(c *Config, s string) { c.ClientID = s }),
	"transactional_id":    stringSetting(func(c *Config, s string) { c.TransactionalID = s }),
	"sasl_plain_username": stringSetting(func(c *Config, s string) { c.SASL.Username = s }),
	"sasl_plain_password": stringSetting(func(c *Config, s string) { c.SASL.Password = s }),
	"sasl_mechanism": func(c *Config, _ *tlsFiles, v json.RawMessage) error {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return fmt.Errorf("want a string: %w", err)
		}
		c.SASL.Mechanism = strings.ToUpper(s)
		_, err := c.SASL.mechanism()
		return err
	},
	"security_protocol": func(c *Config, tf *tlsFiles, v json.RawMessage) error {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return fmt.Errorf("want a string: %w", err)
		}
		switch p := strings.ToUpper(s); p {
		case "PLAINTEXT", "SASL_PLAINTEXT", "SSL", "SASL_SSL":
			tf.protocolTLS = strings.HasSuffix(p, "SSL")
			tf.protocolSASL = strings.HasPrefix(p, "SASL_")
		default:
			return fmt.Errorf("%q is not one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL", s)
		}
		tf.protocolSet = true
		return nil
	},
	"ssl_cafile":   fileSetting(func(tf *tlsFiles, s string) { tf.ca = s }),
	"ssl_certfile": fileSetting(func(tf *tlsFiles, s string) { tf.cert = s }),
	"ssl_keyfile":  fileSetting(func(tf *tlsFiles, s string) { tf.key = s }),
	"acks": func(c *Config, _ *tlsFiles, v json.RawMessage) error {
		var s string
		if json.Unmarshal(v, &s) == nil && strings.EqualFold(s, "all") {
			c.RequiredAcks = AcksAll
			return nil
		}
		var n int
		if err := json.Unmarshal(v, &n); err != nil {
			return fmt.Errorf("want 0, 1, -1 or \"all\", got %s", v)
		}
		switch n {
		case 0:
			c.RequiredAcks = AcksNone
		case 1:
			c.RequiredAcks = AcksLeader
		case -1:
			c.RequiredAcks = AcksAll
		default:
			return fmt.Errorf("want 0, 1, -1 or \"all\", got %d", n)
		}
		return nil
	},
	"compression_type": func(c *Config, _ *tlsFiles, v json.RawMessage) error {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return fmt.Errorf("want a string: %w", err)
		}
		if _, err := Compression(s).kafka(); err != nil {
			return err
		}
		c.Compression = Compression(strings.ToLower(s))
		if c.Compression == "none" {
			c.Compression = CompressionNone
		}
		return nil
	},
	"linger_ms":               msSetting(func(c *Config, d time.Duration) { c.BatchTimeout = d }),
	"request_timeout_ms":      msSetting(func(c *Config, d time.Duration) { c.RequestTimeout = d }),
	"metadata_max_age_ms":     msSetting(func(c *Config, d time.Duration) { c.MetadataMaxAge = d }),
	"session_timeout_ms":      msSetting(func(c *Config, d time.Duration) { c.SessionTimeout = d }),
	"heartbeat_interval_ms":   msSetting(func(c *Config, d time.Duration) { c.HeartbeatInterval = d }),
	"auto_commit_interval_ms": msSetting(func(c *Config, d time.Duration) { c.CommitInterval = d }),
	"max_batch_size":          intSetting(func(c *Config, n int) { c.BatchBytes = int64(n) }),
	"max_batch_messages":      intSetting(func(c *Config, n int) { c.BatchSize = n }),
	"max_buffered_messages":   intSetting(func(c *Config, n int) { c.MaxBufferedMessages = n }),
	"num_partitions":          intSetting(func(c *Config, n int) { c.Partitions = n }),
	"replication_factor":      intSetting(func(c *Config, n int) { c.ReplicationFactor = n }),
	"enable_auto_commit": func(c *Config, _ *tlsFiles, v json.RawMessage) error {
		var b bool
		if err := json.Unmarshal(v, &b); err != nil {
			return fmt.Errorf("want true or false, got %s", v)
		}
		c.DisableAutoCommit = !b
		return nil
	},
}

func knownSettings() []string {
	keys := make([]string, 0, len(settingAppliers))
	for k := range settingAppliers {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func stringSetting(set func(*Config, string)) settingApplier {
	return func(c *Config, _ *tlsFiles, v json.RawMessage) error {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return fmt.Errorf("want a string, got %s", v)
		}
		set(c, s)
		return nil
	}
}

func fileSetting(set func(*tlsFiles, string)) settingApplier {
	return func(_ *Config, tf *tlsFiles, v json.RawMessage) error {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return fmt.Errorf("want a file path string, got %s", v)
		}
		set(tf, s)
		return nil
	}
}

func intSetting(set func(*Config, int)) settingApplier {
	return func(c *Config, _ *tlsFiles, v json.RawMessage) error {
		var n int
		if err := json.Unmarshal(v, &n); err != nil {
			return fmt.Errorf("want a whole number, got %s", v)
		}
		if n < 0 {
			return fmt.Errorf("want a number of 0 or more, got %d", n)
		}
		set(c, n)
		return nil
	}
}

func msSetting(set func(*Config, time.Duration)) settingApplier {
	return func(c *Config, _ *tlsFiles, v json.RawMessage) error {
		var n int64
		if err := json.Unmarshal(v, &n); err != nil {
			return fmt.Errorf("want a whole number of milliseconds, got %s", v)
		}
		if n < 0 {
			return fmt.Errorf("want 0 or more milliseconds, got %d", n)
		}
		set(c, time.Duration(n)*time.Millisecond)
		return nil
	}
}

// tlsFiles gathers the security settings, which only make sense together.
type tlsFiles struct {
	protocolSet, protocolTLS, protocolSASL bool
	ca, cert, key                          string
}

func (tf *tlsFiles) apply(c *Config) error {
	if tf.protocolSASL && c.SASL.Mechanism == "" {
		return fmt.Errorf("setting \"security_protocol\" is SASL_* but no \"sasl_mechanism\" is given")
	}
	wantTLS := tf.protocolTLS || tf.ca != "" || tf.cert != "" || tf.key != ""
	if tf.protocolSet && !tf.protocolTLS && wantTLS {
		return fmt.Errorf("setting \"security_protocol\" is plaintext but ssl_* files are given")
	}
	if tf.protocolSet && !tf.protocolTLS {
		c.TLS = nil
		return nil
	}
	if !wantTLS {
		return nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.TLS != nil {
		cfg = c.TLS.Clone()
	}
	if tf.ca != "" {
		pem, err := os.ReadFile(tf.ca)
		if err != nil {
			return fmt.Errorf("setting \"ssl_cafile\": %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("setting \"ssl_cafile\": %s holds no PEM certificate", tf.ca)
		}
		cfg.RootCAs = pool
		c.caFile = tf.ca
	}
	if (tf.cert == "") != (tf.key == "") {
		return fmt.Errorf("settings \"ssl_certfile\" and \"ssl_keyfile\" must be given together")
	}
	if tf.cert != "" {
		pair, err := tls.LoadX509KeyPair(tf.cert, tf.key)
		if err != nil {
			return fmt.Errorf("settings \"ssl_certfile\"/\"ssl_keyfile\": %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	c.TLS = cfg
	return nil
}
