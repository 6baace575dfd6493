package core

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// errTLSAnswer: a plaintext request was answered with a TLS record.
var errTLSAnswer = errors.New("the broker answered with a TLS record")

// kafkaConn speaks just enough of the Kafka protocol for Ping: one
// request at a time, versions without tagged fields (request header v1,
// response header v0), which every broker since 1.0 answers.
type kafkaConn struct {
	conn     net.Conn
	r        *bufio.Reader
	clientID string
	corr     int32
}

// maxPingResponse bounds a response Ping reads: a metadata response of a
// large cluster is well under it, and garbage from a port that is not
// Kafka's cannot make it allocate more.
const maxPingResponse = 16 << 20

// roundTrip sends req at version and reads its response into resp.
func (k *kafkaConn) roundTrip(req kmsg.Request, version int16) (kmsg.Response, error) {
	req.SetVersion(version)
	k.corr++
	buf := make([]byte, 4, 64)
	buf = binary.BigEndian.AppendUint16(buf, uint16(req.Key()))
	buf = binary.BigEndian.AppendUint16(buf, uint16(version))
	buf = binary.BigEndian.AppendUint32(buf, uint32(k.corr))
	buf = binary.BigEndian.AppendUint16(buf, uint16(len(k.clientID)))
	buf = append(buf, k.clientID...)
	buf = req.AppendTo(buf)
	binary.BigEndian.PutUint32(buf, uint32(len(buf)-4))
	if _, err := k.conn.Write(buf); err != nil {
		return nil, err
	}
	if k.r == nil {
		k.r = bufio.NewReader(k.conn)
	}
	var head [8]byte
	if _, err := io.ReadFull(k.r, head[:4]); err != nil {
		return nil, err
	}
	if (head[0] == 0x15 || head[0] == 0x16) && head[1] == 0x03 {
		// A TLS record (an alert, or a handshake) where a response's
		// size should be: the listener expects TLS.
		return nil, errTLSAnswer
	}
	size := binary.BigEndian.Uint32(head[:4])
	if size < 4 || size > maxPingResponse {
		return nil, fmt.Errorf("a response of %d bytes: is this port a Kafka listener?", size)
	}
	if _, err := io.ReadFull(k.r, head[4:]); err != nil {
		return nil, err
	}
	if corr := int32(binary.BigEndian.Uint32(head[4:])); corr != k.corr {
		return nil, fmt.Errorf("response to request %d where %d was expected: is this port a Kafka listener?", corr, k.corr)
	}
	body := make([]byte, size-4)
	if _, err := io.ReadFull(k.r, body); err != nil {
		return nil, err
	}
	resp := req.ResponseKind()
	resp.SetVersion(version)
	if err := resp.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("reading the %s response: %w", kmsg.NameForKey(req.Key()), err)
	}
	return resp, nil
}

func (k *kafkaConn) apiVersions() (*kmsg.ApiVersionsResponse, error) {
	r, err := k.roundTrip(kmsg.NewPtrApiVersionsRequest(), 0)
	if err != nil {
		return nil, err
	}
	resp := r.(*kmsg.ApiVersionsResponse)
	if resp.ErrorCode != 0 {
		return nil, kerr.ErrorForCode(resp.ErrorCode)
	}
	return resp, nil
}

func (k *kafkaConn) metadata() error {
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = []kmsg.MetadataRequestTopic{} // none, not all: v1+ reads an empty array as none
	_, err := k.roundTrip(req, 1)
	return err
}

// authenticate runs the SASL exchange of s, or returns a
// *ConnectionError that says why the broker refused it.
func (k *kafkaConn) authenticate(ctx context.Context, s SASL, broker string) error {
	mech, err := s.franzMechanism()
	if err != nil {
		return err
	}
	name := mech.Name()
	fail := func(misconfigured bool, err error, format string, args ...any) error {
		return &ConnectionError{Broker: broker, Problem: "SASL: " + fmt.Sprintf(format, args...), Misconfigured: misconfigured, Err: err}
	}
	hreq := kmsg.NewPtrSASLHandshakeRequest()
	hreq.Mechanism = name
	r, err := k.roundTrip(hreq, 1)
	if err != nil {
		if closedEarly(err) {
			return fail(true, err, "the broker closed the connection at the SASL handshake: does this listener take SASL? (security_protocol %s)", securityProtocol(s, k.conn))
		}
		return fail(false, err, "the handshake failed")
	}
	hresp := r.(*kmsg.SASLHandshakeResponse)
	switch code := hresp.ErrorCode; {
	case code == kerr.UnsupportedSaslMechanism.Code:
		return fail(true, kerr.ErrorForCode(code), "the mechanism %s is not enabled on this listener (it enables %s): set sasl_mechanism to one of them",
			name, strings.Join(hresp.SupportedMechanisms, ", "))
	case code == kerr.IllegalSaslState.Code:
		return fail(true, kerr.ErrorForCode(code), "this listener does not take SASL: set security_protocol to PLAINTEXT or SSL, or use the broker's SASL port")
	case code != 0:
		return fail(false, kerr.ErrorForCode(code), "the handshake failed")
	}

	refused := func(err error) error {
		return fail(true, err, "authentication refused for user %q (%s): wrong user name or password, no such user, or no %s credentials for it", s.Username, name, name)
	}
	session, clientWrite, err := mech.Authenticate(ctx, broker)
	if err != nil {
		return fail(true, err, "%s could not start", name)
	}
	for {
		areq := kmsg.NewPtrSASLAuthenticateRequest()
		areq.SASLAuthBytes = clientWrite
		r, err := k.roundTrip(areq, 1)
		if err != nil {
			if closedEarly(err) {
				e := refused(errors.New("the broker closed the connection"))
				e.(*ConnectionError).tentative = true
				return e
			}
			return fail(false, err, "authentication failed")
		}
		aresp := r.(*kmsg.SASLAuthenticateResponse)
		if aresp.ErrorCode != 0 {
			if aresp.ErrorCode == kerr.SaslAuthenticationFailed.Code {
				return refused(kerrMessage(aresp.ErrorCode, aresp.ErrorMessage))
			}
			return fail(false, kerrMessage(aresp.ErrorCode, aresp.ErrorMessage), "authentication failed")
		}
		done, next, err := session.Challenge(aresp.SASLAuthBytes)
		if err != nil {
			return refused(err)
		}
		if done {
			return nil
		}
		clientWrite = next
	}
}

// securityProtocol names the protocol the client speaks, as the
// security_protocol setting does.
func securityProtocol(s SASL, conn net.Conn) string {
	_, isTLS := conn.(*tls.Conn)
	p := "PLAINTEXT"
	if isTLS {
		p = "SSL"
	}
	if s.Mechanism != "" {
		p = "SASL_" + p
	}
	return p
}
