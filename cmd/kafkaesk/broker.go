package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/kafkaesk-go/kafkaesk/kafkaesktest"
)

const brokerSynopsis = "[--port 9092] [--data-dir DIR] [--partitions N] [--tls-dir DIR [--mtls]] [--sasl-mechanism M --sasl-user U]"

// envBrokerSASLPassword gives the embedded broker's SASL password, so
// that it need not be on the command line (where ps shows it).
const envBrokerSASLPassword = "KAFKAESK_BROKER_SASL_PASSWORD"

// brokerSecurityFlags make the embedded broker require what a secured
// cluster does: TLS (with certificates it makes), client certificates,
// SASL.
type brokerSecurityFlags struct {
	tlsDir, mechanism, user, password string
	mtls                              bool
}

func addBrokerSecurityFlags(fs *flag.FlagSet) *brokerSecurityFlags {
	s := &brokerSecurityFlags{}
	fs.StringVar(&s.tlsDir, "tls-dir", "", "serve TLS, with a CA and broker and client certificates made in this directory\n(ca.pem is the clients' ssl_cafile; the broker's certificate is valid for 127.0.0.1 and localhost)")
	fs.BoolVar(&s.mtls, "mtls", false, "with --tls-dir: require a client certificate signed by its CA (client.pem, client.key)")
	fs.StringVar(&s.mechanism, "sasl-mechanism", "", "require SASL authentication: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
	fs.StringVar(&s.user, "sasl-user", "", "with --sasl-mechanism: the user clients authenticate as")
	fs.StringVar(&s.password, "sasl-password", "", "with --sasl-mechanism: the user's password (env "+envBrokerSASLPassword+", which ps does not show)")
	return s
}

// options checks the flags and returns the broker's security options,
// and the --kafka-settings a client connects with (the password left
// out).
func (s *brokerSecurityFlags) options() (kafkaesktest.Options, string, error) {
	var o kafkaesktest.Options
	settings := map[string]string{}
	switch {
	case s.mtls && s.tlsDir == "":
		return o, "", usagef("flag --mtls needs --tls-dir")
	case s.mechanism == "" && (s.user != "" || s.password != ""):
		return o, "", usagef("flags --sasl-user and --sasl-password need --sasl-mechanism")
	}
	if s.password == "" {
		s.password = os.Getenv(envBrokerSASLPassword)
	}
	switch {
	case s.mechanism != "" && s.user == "":
		return o, "", usagef("flag --sasl-mechanism needs --sasl-user")
	case s.mechanism != "" && s.password == "":
		return o, "", usagef("flag --sasl-mechanism needs --sasl-password or %s", envBrokerSASLPassword)
	}
	if s.mechanism != "" {
		mech := strings.ToUpper(s.mechanism)
		switch mech {
		case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
		default:
			return o, "", usagef("flag --sasl-mechanism: %q is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512", s.mechanism)
		}
		o.SASL = kafkaesktest.SASL{Mechanism: mech, Username: s.user, Password: s.password}
		settings["sasl_mechanism"] = mech
		settings["sasl_plain_username"] = s.user
		settings["sasl_plain_password"] = "PASSWORD"
	}
	protocol := "PLAINTEXT"
	if s.tlsDir != "" {
		certs, err := kafkaesktest.NewCertificates(s.tlsDir)
		if err != nil {
			return o, "", fmt.Errorf("flag --tls-dir %s: %w", s.tlsDir, err)
		}
		o.TLS = certs.ServerConfig(s.mtls)
		protocol = "SSL"
		abs := func(p string) string { a, _ := filepath.Abs(p); return a }
		settings["ssl_cafile"] = abs(certs.CAFile)
		if s.mtls {
			settings["ssl_certfile"], settings["ssl_keyfile"] = abs(certs.ClientCertFile), abs(certs.ClientKeyFile)
		}
	}
	if s.mechanism != "" {
		protocol = "SASL_" + protocol
	}
	if protocol == "PLAINTEXT" {
		return o, "", nil
	}
	settings["security_protocol"] = protocol
	b, _ := json.Marshal(settings)
	return o, string(b), nil
}

// runBroker runs the embedded broker until ctx ends (SIGINT or SIGTERM),
// then closes it: a stop is a success.
func runBroker(ctx context.Context, std *stdio, args []string) error {
	fs := newFlagSet("broker", brokerSynopsis, std)
	port := fs.Int("port", defaultBrokerPort, "port to listen on, on 127.0.0.1; 0 picks a free port (printed at start)")
	dataDir := fs.String("data-dir", "", "keep topics and offsets in this directory, so that they survive a restart (default: in memory)")
	partitions := fs.Int("partitions", 1, "partitions of the topics the broker creates by itself, for clients that produce to a topic that does not exist\n(kafkaesk's own publishers create their topics with num_partitions of --kafka-settings, default 7)")
	security := addBrokerSecurityFlags(fs)
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(rest) > 0:
		return usagef("unexpected argument %q: broker takes only flags", rest[0])
	case *port < 0 || *port > 65535:
		return usagef("flag --port: %d is not a port from 0 to 65535", *port)
	case *partitions < 1:
		return usagef("flag --partitions: %d is less than allowed 1", *partitions)
	}
	o, settings, err := security.options()
	if err != nil {
		return err
	}
	o.Port, o.DataDir, o.Partitions = *port, *dataDir, *partitions
	b, err := startBrokerWith(o, std)
	if err != nil {
		return fmt.Errorf("%w; give another --port", err)
	}
	if settings != "" {
		fmt.Fprintf(std.err, "kafkaesk: clients connect with --kafka-settings '%s' (the user's password for PASSWORD)\n", settings)
	}
	<-ctx.Done()
	b.Close()
	fmt.Fprintln(std.err, "kafkaesk: embedded broker stopped")
	return nil
}
