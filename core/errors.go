package core

import (
	"errors"
	"fmt"
	"strings"
)

// ErrClosed is returned by Publish and the other producing methods once
// Close has been called.
var ErrClosed = errors.New("kafkaesk: application is closed")

// ErrUnknownStream is returned by Read and StreamOffsets when the stream's
// topic does not exist; the error wrapping it names the stream, the topic
// and the brokers asked.
var ErrUnknownStream = errors.New("kafkaesk: unknown stream")

// SchemaConflictError is returned when a schema id and version is
// registered twice with different JSON schemas, or one Go type under two
// keys. It names both registrations.
type SchemaConflictError struct {
	Existing, New *Schema
}

func (e *SchemaConflictError) Error() string {
	if e.Existing.Key() != e.New.Key() {
		return fmt.Sprintf("kafkaesk: schema conflict: type %s is registered as %s and cannot also be %s",
			typeName(e.New.goType), e.Existing.Key(), e.New.Key())
	}
	return fmt.Sprintf("kafkaesk: schema conflict: %s is registered for %s with JSON schema %s, and again for %s with a different JSON schema %s",
		e.Existing.Key(), e.Existing.describe(), e.Existing.document, e.New.describe(), e.New.document)
}

// ValidationError is returned when data does not match its JSON schema.
// Nothing is sent to Kafka.
type ValidationError struct {
	// Schema is the key of the schema that failed, "Foo:1".
	Schema string
	// Problems lists each failing field, most specific first.
	Problems []FieldProblem
	// Err is the validator's own error.
	Err error
}

// FieldProblem is one reason data failed validation.
type FieldProblem struct {
	// Field is a JSON pointer to the failing value, "/user/age"; "" is the
	// document itself.
	Field string
	// Reason says why, as the validator words it.
	Reason string
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "kafkaesk: data does not match schema %s:", e.Schema)
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte(';')
		}
		field := p.Field
		if field == "" {
			field = "(document)"
		}
		fmt.Fprintf(&b, " field %s: %s", field, p.Reason)
	}
	return b.String()
}

func (e *ValidationError) Unwrap() error { return e.Err }

// TopicError is returned when a topic cannot be created or described.
type TopicError struct {
	Topic string
	Err   error
}

func (e *TopicError) Error() string {
	return fmt.Sprintf("kafkaesk: topic %q: %v", e.Topic, e.Err)
}

func (e *TopicError) Unwrap() error { return e.Err }

// PublishError is returned, or passed to a delivery callback, when a message
// could not be written to its topic.
type PublishError struct {
	Topic string
	Err   error
}

func (e *PublishError) Error() string {
	return fmt.Sprintf("kafkaesk: publish to topic %q: %v", e.Topic, e.Err)
}

func (e *PublishError) Unwrap() error { return e.Err }

// ErrMisconfigured: the client's connection settings and the broker do
// not match (credentials refused, a certificate not trusted, TLS against
// a plaintext port or the reverse, a SASL mechanism the broker does not
// enable, a client certificate missing). Sending again cannot help: the
// settings must change. Every *ConnectionError that says so wraps it.
var ErrMisconfigured = errors.New("kafkaesk: connection settings do not match the broker")

// ConnectionError is what Ping found wrong with one broker: which
// broker, what failed in words for the person at the keyboard, and the
// cause. It never holds a password.
type ConnectionError struct {
	Broker string // host:port, as configured
	// Problem says what failed and what to change, e.g. "authentication
	// refused for user \"alice\" (SCRAM-SHA-256): wrong user name or
	// password, or no such user".
	Problem string
	// Misconfigured is true when the settings, not the network or the
	// broker's state, are at fault: the error wraps ErrMisconfigured.
	Misconfigured bool
	Err           error // the cause, from the network, TLS or the broker

	tentative bool // the finding rests on a closed connection alone, as a broker going down would close it
}

func (e *ConnectionError) Error() string {
	msg := "broker " + e.Broker + ": " + e.Problem
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *ConnectionError) Unwrap() []error {
	if e.Misconfigured {
		return []error{ErrMisconfigured, e.Err}
	}
	return []error{e.Err}
}
