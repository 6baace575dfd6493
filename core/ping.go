package core

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Ping checks that the cluster answers, as the application's clients
// will connect to it: it connects to each bootstrap broker in turn (TCP,
// then TLS and SASL as configured), asks for metadata, and returns nil at
// the first answer; then it asks once more through the configured client
// (kafka-go or franz-go). Otherwise the error names every broker and
// says what failed there, as a *ConnectionError: a refused password, an
// untrusted certificate, TLS against a plaintext port, a port that is
// down. Misconfigurations (errors.Is(err, ErrMisconfigured)) come first.
// Each broker is bounded by Config.DialTimeout, the whole call by ctx
// and Config.RequestTimeout, so a wrong setting fails in seconds rather
// than in a retry loop; commands call it before they start. It keeps no
// connection and may be called at any time, concurrently.
func (a *Application) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.RequestTimeout)
	defer cancel()
	if err := probe(ctx, &a.cfg); err != nil {
		return fmt.Errorf("kafkaesk: no Kafka broker reachable at %s: %w", strings.Join(a.cfg.Brokers, ","), err)
	}
	if err := a.driver.ping(ctx); err != nil {
		return fmt.Errorf("kafkaesk: no Kafka broker reachable at %s: %w", strings.Join(a.cfg.Brokers, ","), err)
	}
	return nil
}

func probe(ctx context.Context, c *Config) error {
	var errs []error
	for _, broker := range c.Brokers {
		err := pingBroker(ctx, c, broker)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	slices.SortStableFunc(errs, func(x, y error) int {
		mx, my := errors.Is(x, ErrMisconfigured), errors.Is(y, ErrMisconfigured)
		switch {
		case mx && !my:
			return -1
		case my && !mx:
			return 1
		}
		return 0
	})
	return errors.Join(errs...)
}

// pingBroker connects to broker and goes as far as an answered metadata
// request, or returns a *ConnectionError saying where it stopped.
func pingBroker(ctx context.Context, c *Config, broker string) error {
	ctx, cancel := context.WithTimeout(ctx, c.DialTimeout)
	defer cancel()
	fail := func(misconfigured bool, err error, format string, args ...any) error {
		return &ConnectionError{Broker: broker, Problem: fmt.Sprintf(format, args...), Misconfigured: misconfigured, Err: err}
	}
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", broker)
	if err != nil {
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) {
			return fail(false, err, "cannot resolve the host name")
		}
		return fail(false, err, "cannot connect")
	}
	defer conn.Close()
	_ = conn.SetDeadline(deadlineOf(ctx))
	defer context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })()
	if c.TLS != nil {
		tc, err := handshake(ctx, conn, c, broker)
		if err != nil {
			return err
		}
		conn = tc
	}
	k := &kafkaConn{conn: conn, clientID: c.ClientID}

	// ApiVersions: the first request of every client, before SASL.
	if _, err := k.apiVersions(); err != nil {
		if c.TLS != nil && isTLSAlert(err) {
			return refusedHandshake(broker, c.TLS, err)
		}
		if c.TLS == nil && (errors.Is(err, errTLSAnswer) || closedEarly(err) && speaksTLS(ctx, broker)) {
			return fail(true, err, "the port speaks TLS and the client does not: set security_protocol to SSL or SASL_SSL (and ssl_cafile), or use the broker's plaintext port")
		}
		if closedEarly(err) {
			return fail(false, err, "the broker closed the connection at the first request")
		}
		return fail(false, err, "the first request failed")
	}
	if c.SASL.Mechanism != "" {
		if err := k.authenticate(ctx, c.SASL, broker); err != nil {
			return err
		}
	}
	if err := k.metadata(); err != nil {
		if c.SASL.Mechanism == "" && closedEarly(err) {
			e := fail(true, err, "the broker closed the connection at the first request after ApiVersions: this listener requires SASL authentication (set security_protocol to SASL_PLAINTEXT or SASL_SSL, and sasl_mechanism, sasl_plain_username and sasl_plain_password)")
			e.(*ConnectionError).tentative = true
			return e
		}
		return fail(false, err, "the metadata request failed")
	}
	return nil
}

// handshake makes conn a TLS connection to broker, or returns a
// *ConnectionError that says why the handshake failed.
func handshake(ctx context.Context, conn net.Conn, c *Config, broker string) (net.Conn, error) {
	conf := c.TLS.Clone()
	if conf.ServerName == "" {
		host, _, _ := net.SplitHostPort(broker)
		conf.ServerName = host
	}
	// Half the time at most: a plaintext listener may wait for the rest
	// of a "request" as long as the ClientHello's first bytes say, and
	// the other half asks it in plaintext to tell.
	hctx, cancel := context.WithTimeout(ctx, c.DialTimeout/2)
	defer cancel()
	tc := tls.Client(conn, conf)
	err := tc.HandshakeContext(hctx)
	if err == nil {
		_ = conn.SetDeadline(deadlineOf(ctx))
		return tc, nil
	}
	fail := func(misconfigured bool, format string, args ...any) error {
		return &ConnectionError{Broker: broker, Problem: "TLS: " + fmt.Sprintf(format, args...), Misconfigured: misconfigured, Err: err}
	}
	var (
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		header    tls.RecordHeaderError
		verify    *tls.CertificateVerificationError
	)
	switch {
	case errors.As(err, &unknownCA):
		if c.caFile != "" {
			return nil, fail(true, "the broker's certificate is not signed by a CA in ssl_cafile %s", c.caFile)
		}
		if conf.RootCAs != nil {
			return nil, fail(true, "the broker's certificate is not signed by a CA of Config.TLS.RootCAs")
		}
		return nil, fail(true, "the broker's certificate is not signed by a CA the system trusts: give its CA in ssl_cafile")
	case errors.As(err, &hostname):
		return nil, fail(true, "the broker's certificate is not valid for the host %q (%s): connect with a name or address the certificate holds", hostname.Host, certNames(hostname.Certificate))
	case errors.As(err, &invalid):
		return nil, fail(true, "the broker's certificate is not valid")
	case errors.As(err, &verify):
		return nil, fail(true, "the broker's certificate could not be verified")
	case errors.As(err, &header):
		return nil, fail(true, "the port does not speak TLS: set security_protocol to PLAINTEXT or SASL_PLAINTEXT, or use the broker's TLS port")
	case isTLSAlert(err):
		return nil, refusedHandshake(broker, conf, err)
	case (closedEarly(err) || errors.Is(err, context.DeadlineExceeded) || isTimeout(err)) && speaksPlaintext(ctx, broker, c.ClientID):
		return nil, fail(true, "the port does not speak TLS, it answers Kafka requests in plaintext: set security_protocol to PLAINTEXT or SASL_PLAINTEXT, or use the broker's TLS port")
	case closedEarly(err):
		return nil, fail(false, "the broker closed the connection during the handshake")
	}
	return nil, fail(false, "handshake failed")
}

// isTLSAlert reports whether err is the broker refusing the TLS
// handshake with an alert. With TLS 1.3 a refused client certificate
// shows only at the first read after the handshake.
func isTLSAlert(err error) bool {
	var alert tls.AlertError
	return errors.As(err, &alert) || strings.Contains(err.Error(), "remote error: tls:")
}

// refusedHandshake is the error of a broker that refused the handshake:
// most often for want of a client certificate (mutual TLS).
func refusedHandshake(broker string, conf *tls.Config, err error) error {
	e := &ConnectionError{Broker: broker, Misconfigured: true, Err: err,
		Problem: "TLS: the broker refused the handshake, and with it the client certificate of ssl_certfile"}
	if len(conf.Certificates) == 0 && conf.GetClientCertificate == nil {
		e.Problem = "TLS: the broker refused the handshake: it requires a client certificate (mutual TLS): set ssl_certfile and ssl_keyfile"
	}
	return e
}

// certNames lists the names and addresses cert is valid for.
func certNames(cert *x509.Certificate) string {
	if cert == nil {
		return "no certificate"
	}
	var names []string
	names = append(names, cert.DNSNames...)
	for _, ip := range cert.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 {
		return "it names no host"
	}
	return "it is valid for " + strings.Join(names, ", ")
}

// closedEarly reports whether err is the peer hanging up: what a broker
// does to a request it cannot read (plaintext on a TLS port) or will not
// answer (before authentication, after a refused one).
func closedEarly(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// speaksTLS reports whether broker answers a TLS handshake: the reason a
// plaintext request was hung up on. The certificate does not matter here.
func speaksTLS(ctx context.Context, broker string) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", broker)
	if err != nil {
		return false
	}
	defer conn.Close()
	tc := tls.Client(conn, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // a probe: nothing is sent over it
	err = tc.HandshakeContext(ctx)
	// A broker that wants a client certificate refuses the handshake
	// with an alert: TLS all the same.
	return err == nil || isTLSAlert(err)
}

// speaksPlaintext reports whether broker answers an ApiVersions request
// in plaintext: the reason a TLS handshake got nowhere.
func speaksPlaintext(ctx context.Context, broker, clientID string) bool {
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", broker)
	if err != nil {
		return false
	}
	defer conn.Close()
	_ = conn.SetDeadline(deadlineOf(ctx))
	defer context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })()
	_, err = (&kafkaConn{conn: conn, clientID: clientID}).apiVersions()
	return err == nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// deadlineOf returns ctx's deadline; none is the zero time.
func deadlineOf(ctx context.Context) time.Time {
	dl, _ := ctx.Deadline()
	return dl
}

// kerrMessage returns the broker's error code as Kafka names it, with
// the message it sent, if any.
func kerrMessage(code int16, msg *string) error {
	err := kerr.ErrorForCode(code)
	if msg != nil && *msg != "" {
		return fmt.Errorf("%w: %s", err, *msg)
	}
	return err
}
