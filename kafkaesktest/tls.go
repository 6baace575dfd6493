package kafkaesktest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Certificates is a certificate authority made for a test run, with a
// broker certificate and a client certificate it signed, written as PEM
// files: what a TLS listener and its clients need, without openssl or a
// JVM. The files are those a client names in its settings (ssl_cafile,
// ssl_certfile, ssl_keyfile).
type Certificates struct {
	Dir string // where the files are

	CAFile string // the authority's certificate: a client's ssl_cafile

	// The broker's certificate and key, valid for the hosts given to
	// NewCertificates.
	BrokerCertFile, BrokerKeyFile string

	// A client certificate and key, for brokers that require one
	// (mutual TLS): a client's ssl_certfile and ssl_keyfile.
	ClientCertFile, ClientKeyFile string

	broker tls.Certificate
	pool   *x509.CertPool
}

// NewCertificates makes a new authority, a broker certificate valid for
// hosts (IP addresses or DNS names; default 127.0.0.1 and localhost) and
// a client certificate, and writes them to dir, which it creates. Keys
// are ECDSA P-256; certificates are valid for a day. It is for tests and
// local development only: the authority's key is thrown away.
func NewCertificates(dir string, hosts ...string) (*Certificates, error) {
	if len(hosts) == 0 {
		hosts = []string{"127.0.0.1", "localhost"}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("kafkaesktest: certificates: %w", err)
	}
	c := &Certificates{
		Dir:            dir,
		CAFile:         filepath.Join(dir, "ca.pem"),
		BrokerCertFile: filepath.Join(dir, "broker.pem"),
		BrokerKeyFile:  filepath.Join(dir, "broker.key"),
		ClientCertFile: filepath.Join(dir, "client.pem"),
		ClientKeyFile:  filepath.Join(dir, "client.key"),
	}
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "kafkaesktest CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("kafkaesktest: certificates: %w", err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	if err := writePEM(c.CAFile, "CERTIFICATE", caDER); err != nil {
		return nil, err
	}
	c.pool = x509.NewCertPool()
	c.pool.AddCert(ca)

	broker := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "kafkaesktest broker"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			broker.IPAddresses = append(broker.IPAddresses, ip)
		} else {
			broker.DNSNames = append(broker.DNSNames, h)
		}
	}
	if c.broker, err = issue(broker, ca, caKey, c.BrokerCertFile, c.BrokerKeyFile); err != nil {
		return nil, err
	}
	client := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "kafkaesktest client"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if _, err := issue(client, ca, caKey, c.ClientCertFile, c.ClientKeyFile); err != nil {
		return nil, err
	}
	return c, nil
}

// TestCertificates is NewCertificates in the test's temporary directory;
// it fails the test on error.
func TestCertificates(t testing.TB, hosts ...string) *Certificates {
	t.Helper()
	c, err := NewCertificates(t.TempDir(), hosts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// ServerConfig returns the broker's TLS configuration: its certificate,
// and, with requireClientCert, mutual TLS: a client must present a
// certificate the authority signed.
func (c *Certificates) ServerConfig(requireClientCert bool) *tls.Config {
	conf := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{c.broker}}
	if requireClientCert {
		conf.ClientAuth = tls.RequireAndVerifyClientCert
		conf.ClientCAs = c.pool
	}
	return conf
}

// issue signs tmpl with the authority, writes the certificate and its new
// key as PEM, and returns them as a pair.
func issue(tmpl, ca *x509.Certificate, caKey *ecdsa.PrivateKey, certFile, keyFile string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("kafkaesktest: certificates: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := writePEM(certFile, "CERTIFICATE", der); err != nil {
		return tls.Certificate{}, err
	}
	if err := writePEM(keyFile, "PRIVATE KEY", keyDER); err != nil {
		return tls.Certificate{}, err
	}
	return tls.LoadX509KeyPair(certFile, keyFile)
}

func writePEM(path, typ string, der []byte) error {
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		return fmt.Errorf("kafkaesktest: certificates: %w", err)
	}
	return nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	return n
}
