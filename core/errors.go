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
