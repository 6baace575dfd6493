package asyncapi

import (
	"encoding/json"
	"fmt"
	"net"
	"strings"

	"github.com/kafkaesk-go/kafkaesk/core"
)

// messageName is the component name of s's message: "Order_v1".
func messageName(s *core.Schema) string {
	return componentName(fmt.Sprintf("%s_v%d", s.ID, s.Version))
}

// addMessage adds s's message to the components, and its JSON Schema to
// components.schemas: its definitions hoisted there (so that references
// resolve in the document), the root under the message's name.
func (b *builder) addMessage(s *core.Schema) error {
	var root map[string]any
	if err := json.Unmarshal(s.JSONSchema(), &root); err != nil {
		return fmt.Errorf("asyncapi: schema %s: its JSON Schema does not decode: %w", s.Key(), err)
	}
	name := messageName(s)
	defs := map[string]string{} // the schema's definition → its component name
	for _, key := range []string{"$defs", "definitions"} {
		m, _ := root[key].(map[string]any)
		for def, body := range m {
			cname := componentName(def)
			if old, ok := b.schemas[cname]; ok && !sameJSON(old, body) {
				cname = componentName(name + "." + def) // another type of the same name
			}
			defs["#/"+key+"/"+def] = "#/components/schemas/" + cname
			b.schemas[cname] = body
		}
		delete(root, key)
	}
	delete(root, "$schema")
	delete(root, "$id")
	for cname, body := range b.schemas {
		b.schemas[cname] = rewriteRefs(body, defs)
	}
	data := rewriteRefs(root, defs)
	b.schemas[name] = data
	b.messages[name] = map[string]any{
		"name":        s.ID,
		"title":       s.Key(),
		"summary":     fmt.Sprintf("A %s message: version %d of schema %s, in the kafkaesk envelope.", s.Key(), s.Version, s.ID),
		"contentType": "application/json",
		"payload":     envelope(s.Key(), ref("#/components/schemas/"+name)),
		"headers":     headers(),
		"bindings":    messageBindings(),
		"examples": []any{map[string]any{
			"name":    "envelope",
			"summary": "The envelope every message has; data holds the schema's object.",
			"payload": map[string]any{"schema": s.Key(), "data": map[string]any{}},
		}},
	}
	return nil
}

// envelope is the payload of a message of schema key: kafkaesk's
// {"schema": key, "data": {...}}.
func envelope(key string, data any) map[string]any {
	schema := map[string]any{"type": "string", "description": "The schema id and version, ID:Version."}
	if key != "" {
		schema["const"] = key
	}
	return map[string]any{
		"type":        "object",
		"description": "The kafkaesk envelope: the schema the data follows, and the data.",
		"required":    []any{"schema", "data"},
		"properties":  map[string]any{"schema": schema, "data": data},
	}
}

// headers are what core sets on every message it publishes: the trace
// context (W3C), when the publisher had one.
func headers() map[string]any {
	str := func(d string) map[string]any { return map[string]any{"type": "string", "description": d} }
	return map[string]any{
		"type": "object",
		"properties": map[string]any{
			"traceparent": str("W3C Trace Context of the publishing span, when there is one."),
			"tracestate":  str("W3C Trace Context vendor state, when there is some."),
			"baggage":     str("W3C Baggage, when there is some."),
		},
	}
}

func messageBindings() map[string]any {
	return map[string]any{"kafka": map[string]any{
		"key":            map[string]any{"type": "string", "description": "The record key the publisher gave (partitioning), or none."},
		"bindingVersion": kafkaBindingVersion,
	}}
}

// anyMessageName is the message of handlers that take any envelope.
const anyMessageName = "AnyEnvelope"

func anyMessage() map[string]any {
	return map[string]any{
		"name":        anyMessageName,
		"title":       "Any kafkaesk message",
		"summary":     "A handler that takes any message ([]byte, an Envelope, a map): any schema, in the kafkaesk envelope.",
		"contentType": "application/json",
		"payload":     envelope("", map[string]any{"type": "object"}),
		"headers":     headers(),
		"bindings":    messageBindings(),
	}
}

// The log event kafkaesk's logging extension writes, which sloghandler
// writes and a collector reads.
const (
	logSchemaKey   = "PydanticLogModel:1"
	logMessageName = "PydanticLogModel_v1"
	logSchemaName  = "PydanticLogModel_v1"
)

func logMessage() map[string]any {
	return map[string]any{
		"name":        "PydanticLogModel",
		"title":       logSchemaKey,
		"summary":     "A log event, as kafkaesk's PydanticKafkaeskHandler writes it: the record's fields, and the log model's.",
		"contentType": "application/json",
		"payload":     envelope(logSchemaKey, ref("#/components/schemas/"+logSchemaName)),
		"headers":     headers(),
		"bindings":    messageBindings(),
		"examples": []any{map[string]any{
			"name": "an event",
			"payload": map[string]any{"schema": logSchemaKey, "data": map[string]any{
				"timestamp": "2026-12-06T10:00:00.000001+00:00", "logger": "checkout", "severity": "INFO", "level": 20,
				"message": "order placed", "service": "checkout", "order_id": "o-123",
			}},
		}},
	}
}

// logEventSchema describes the log event: the fixed fields, and any others
// (the attributes and log models of the call).
func logEventSchema() map[string]any {
	str := func(d string) map[string]any { return map[string]any{"type": "string", "description": d} }
	return map[string]any{
		"type":     "object",
		"required": []any{"timestamp", "logger", "severity", "level", "message"},
		"properties": map[string]any{
			"timestamp": map[string]any{"type": "string", "format": "date-time", "description": "When the event was logged (RFC 3339, or Python's isoformat without a zone, taken as UTC)."},
			"logger":    str("The logger's name."),
			"severity":  map[string]any{"type": "string", "enum": []any{"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}, "description": "Python's level name."},
			"level":     map[string]any{"type": "integer", "description": "Python's level number: 10 DEBUG, 20 INFO, 30 WARNING, 40 ERROR, 50 CRITICAL."},
			"message":   str("The message."),
			"exception": str("The error's type, for an event with an error."),
			"trace":     str("The error's text."),
			"stack":     str("The stack or error chain."),
			"hostname":  str("The host that logged it."),
			"service":   str("The service that logged it."),
			"namespace": str("Its Kubernetes namespace, when known."),
			"cluster":   str("Its cluster, when known."),
			"trace_id":  str("The W3C trace id of the span it was logged in."),
			"span_id":   str("The W3C span id of the span it was logged in."),
		},
		"additionalProperties": true,
		"description":          "Any other field is an attribute of the call or a field of a log model.",
	}
}

// servers describes cfg's bootstrap brokers, with the security their
// settings use (no user, no secret).
func servers(cfg core.Config) (servers, schemes map[string]any) {
	protocol, security := "kafka", []any{}
	schemes = map[string]any{}
	if cfg.TLS != nil {
		protocol = "kafka-secure"
		if len(cfg.TLS.Certificates) > 0 {
			schemes["mutualTLS"] = map[string]any{"type": "X509", "description": "A client certificate signed by a CA the brokers trust."}
			security = append(security, ref("#/components/securitySchemes/mutualTLS"))
		}
	}
	if m := strings.ToUpper(cfg.SASL.Mechanism); m != "" {
		typ := map[string]string{"PLAIN": "plain", "SCRAM-SHA-256": "scramSha256", "SCRAM-SHA-512": "scramSha512"}[m]
		schemes["sasl"] = map[string]any{"type": typ, "description": "SASL " + m + ", a user and password the brokers know."}
		security = append(security, ref("#/components/securitySchemes/sasl"))
	}
	servers = map[string]any{}
	for i, b := range cfg.Brokers {
		s := map[string]any{"host": b, "protocol": protocol, "title": fmt.Sprintf("bootstrap broker %d", i+1)}
		if host, _, err := net.SplitHostPort(b); err == nil {
			s["summary"] = "Kafka broker at " + host
		}
		if len(security) > 0 {
			s["security"] = security
		}
		servers[componentName(fmt.Sprintf("broker-%d", i+1))] = s
	}
	return servers, schemes
}

// rewriteRefs returns v with every "$ref" in refs replaced by its new
// target.
func rewriteRefs(v any, refs map[string]string) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			if s, ok := e.(string); ok && k == "$ref" {
				if to, ok := refs[s]; ok {
					out[k] = to
					continue
				}
			}
			out[k] = rewriteRefs(e, refs)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = rewriteRefs(e, refs)
		}
		return out
	}
	return v
}

func sameJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
