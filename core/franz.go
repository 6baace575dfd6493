package core

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// franzDriver runs core on franz-go (Config.Client ClientFranzGo): kgo
// clients for producing and consuming, kadm for admin requests. Every
// client it makes connects with the same options (brokers, client id,
// TLS, SASL, timeouts) through dial, which Close can cut.
type franzDriver struct {
	cfg  *Config
	dial *abortableDialer
	doc  *doctor   // told of failed connections; nil in some tests
	base []kgo.Opt // the options every client of the driver starts from

	admin franzAdmin // the admin requests' client; see franz_admin.go
}

func newFranzDriver(cfg *Config, dial *abortableDialer, doc *doctor) (*franzDriver, error) {
	dialFn := dial.DialContext
	if cfg.TLS != nil {
		// kgo refuses DialTLSConfig beside a Dialer: TLS goes on top of
		// the abortable dialer's connections, as kafka-go's Transport does.
		dialFn = dialTLS(dial, cfg.TLS.Clone())
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID(cfg.ClientID),
		kgo.Dialer(dialFn),
		kgo.DialTimeout(cfg.DialTimeout),
		kgo.MetadataMaxAge(cfg.MetadataMaxAge),
		kgo.MetadataMinAge(min(cfg.MetadataMaxAge, 100*time.Millisecond)),
		// kgo allows 100ms to 15m.
		kgo.RequestTimeoutOverhead(min(max(cfg.RequestTimeout, 100*time.Millisecond), 15*time.Minute)),
		kgo.RetryTimeout(cfg.RequestTimeout),
		kgo.RetryBackoffFn(func(tries int) time.Duration {
			return min(cfg.RetryBackoff<<min(max(tries-1, 0), 20), cfg.RetryBackoffMax)
		}),
		kgo.WithLogger(franzLogger{log: cfg.Logger}),
	}
	mech, err := cfg.SASL.franzMechanism()
	if err != nil {
		return nil, err
	}
	if mech != nil {
		opts = append(opts, kgo.SASL(mech))
	}
	if doc != nil {
		opts = append(opts, kgo.WithHooks(doctorHook{doc}))
	}
	return &franzDriver{cfg: cfg, dial: dial, doc: doc, base: opts}, nil
}

func (d *franzDriver) name() string { return ClientFranzGo }

// dialTLS returns a dial function that makes a TLS connection over one of
// dial's, with the broker's host as ServerName when conf has none.
func dialTLS(dial *abortableDialer, conf *tls.Config) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dial.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		c := conf
		if c.ServerName == "" {
			if host, _, err := net.SplitHostPort(addr); err == nil {
				c = conf.Clone()
				c.ServerName = host
			}
		}
		tc := tls.Client(conn, c)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, fmt.Errorf("TLS handshake with %s: %w", addr, err)
		}
		return tc, nil
	}
}

// options returns the driver's base options followed by more.
func (d *franzDriver) options(more ...kgo.Opt) []kgo.Opt {
	return append(append(make([]kgo.Opt, 0, len(d.base)+len(more)), d.base...), more...)
}

// franzMechanism is s as a franz-go SASL mechanism; nil for none.
func (s SASL) franzMechanism() (sasl.Mechanism, error) {
	switch strings.ToUpper(s.Mechanism) {
	case "":
		return nil, nil
	case "PLAIN":
		return plain.Auth{User: s.Username, Pass: s.Password}.AsMechanism(), nil
	case "SCRAM-SHA-256":
		return scram.Auth{User: s.Username, Pass: s.Password}.AsSha256Mechanism(), nil
	case "SCRAM-SHA-512":
		return scram.Auth{User: s.Username, Pass: s.Password}.AsSha512Mechanism(), nil
	}
	return nil, fmt.Errorf("SASL.Mechanism %q is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512", s.Mechanism)
}

// franzLogger passes franz-go's log to the application's Logger. The
// consuming clients' (warn) pass its errors and warnings, which it mostly
// recovers from by itself, at Warn; every other line goes at Debug. Its
// debug log, a line per request, is not asked for.
//
// The clients on the publish path (producer, admin) log only at Debug:
// what goes wrong there reaches the caller as a publish error, and an
// application whose Logger publishes through the application itself (a
// sloghandler as slog's default) must not publish its own delivery
// troubles: with Kafka away, each would make another.
type franzLogger struct {
	log  *slog.Logger
	warn bool
}

func (l franzLogger) Level() kgo.LogLevel {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		return kgo.LogLevelInfo
	}
	if !l.warn {
		return kgo.LogLevelNone
	}
	return kgo.LogLevelWarn
}

func (l franzLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	switch {
	case l.warn && (level == kgo.LogLevelError || level == kgo.LogLevelWarn):
		l.log.Warn("franz-go: "+msg, keyvals...)
	default:
		l.log.Debug("franz-go: "+msg, keyvals...)
	}
}
