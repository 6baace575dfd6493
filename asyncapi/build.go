package asyncapi

import (
	"cmp"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/kafkaesk-go/kafkaesk/core"
)

// Build describes app, as registered now, in an AsyncAPI 3.0.0 document.
// opts may be nil. It reads only what the application holds (no broker is
// asked), and fails only on a schema it cannot describe, naming it.
func Build(app *core.Application, opts *Options) (*Document, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	b := &builder{
		cfg:      app.Config(),
		channels: map[string]*channel{},
		schemas:  map[string]any{},
		messages: map[string]any{},
		byType:   map[reflect.Type]*core.Schema{},
	}
	all := app.Schemas()
	for _, s := range all {
		if err := b.addMessage(s); err != nil {
			return nil, err
		}
		if s.Type() != nil {
			b.byType[s.Type()] = s
		}
		for _, stream := range s.Streams {
			b.channel(stream, false).add(messageName(s), s)
		}
	}
	operations := map[string]any{}
	for _, p := range app.Productions() {
		for _, stream := range p.Streams {
			ch := b.channel(stream, false)
			ch.add(messageName(p.Schema), p.Schema)
			operations[opID("send", ch.id, p.Schema.Key())] = b.operation("send", ch, []string{messageName(p.Schema)},
				fmt.Sprintf("The application publishes %s to %s.", p.Schema.Key(), stream), nil)
		}
	}
	if len(o.LogStreams) > 0 {
		b.messages[logMessageName] = logMessage()
		b.schemas[logSchemaName] = logEventSchema()
		for _, stream := range o.LogStreams {
			ch := b.channel(stream, false)
			ch.add(logMessageName, nil)
			operations[opID("send", ch.id, logSchemaKey)] = b.operation("send", ch, []string{logMessageName},
				"The application logs to "+stream+" through sloghandler: kafkaesk log events, which a collector reads.", nil)
		}
	}
	for _, sub := range app.Subscriptions() {
		streams, pattern := sub.Streams, false
		if sub.Pattern != "" {
			streams, pattern = []string{sub.Pattern}, strings.Contains(sub.Pattern, "*")
		}
		names := b.messagesFor(sub.MessageType(), all)
		for _, stream := range streams {
			ch := b.channel(stream, pattern)
			for _, n := range names {
				ch.add(n, nil)
			}
			what := "messages of " + stream
			if pattern {
				what = "the streams matching " + stream
			}
			operations[opID("receive", ch.id, sub.Group)] = b.operation("receive", ch, names,
				fmt.Sprintf("Consumer group %s reads %s.", sub.Group, what),
				map[string]any{"kafka": map[string]any{
					"groupId":        map[string]any{"type": "string", "enum": []any{sub.Group}},
					"bindingVersion": kafkaBindingVersion,
				}})
		}
	}

	channels := map[string]any{}
	for id, ch := range b.channels {
		channels[id] = ch.object(b.cfg)
	}
	components := map[string]any{"messages": b.messages, "schemas": b.schemas}
	servers, schemes := servers(b.cfg)
	if len(schemes) > 0 {
		components["securitySchemes"] = schemes
	}
	info := map[string]any{
		"title":   cmp.Or(o.Title, "kafkaesk application"),
		"version": cmp.Or(o.Version, "1.0.0"),
	}
	if o.Description != "" {
		info["description"] = o.Description
	}
	tree := map[string]any{
		"asyncapi":           Version,
		"info":               info,
		"defaultContentType": "application/json",
		"servers":            servers,
		"channels":           channels,
		"operations":         operations,
		"components":         components,
	}
	return &Document{tree: tree}, nil
}

// kafkaBindingVersion is the version of the Kafka bindings used.
const kafkaBindingVersion = "0.5.0"

type builder struct {
	cfg      core.Config
	channels map[string]*channel
	schemas  map[string]any // components.schemas
	messages map[string]any // components.messages
	byType   map[reflect.Type]*core.Schema
}

// channel is a stream (or a pattern of streams) and the messages on it.
type channel struct {
	id, stream string
	pattern    bool
	messages   map[string]bool
	retention  int64 // ms, from a schema naming the stream; 0: the broker's
}

func (b *builder) channel(stream string, pattern bool) *channel {
	id := componentName(strings.ReplaceAll(stream, "*", "(any)"))
	if ch, ok := b.channels[id]; ok {
		return ch
	}
	ch := &channel{id: id, stream: stream, pattern: pattern, messages: map[string]bool{}}
	b.channels[id] = ch
	return ch
}

// add puts message name on the channel; s, when given, is its schema.
func (ch *channel) add(name string, s *core.Schema) {
	ch.messages[name] = true
	if s != nil && s.Retention > 0 { // the topic is created, on the first publish, with the schema's retention
		ch.retention = max(ch.retention, s.Retention.Milliseconds())
	}
}

func (ch *channel) object(cfg core.Config) map[string]any {
	msgs := map[string]any{}
	for n := range ch.messages {
		msgs[n] = ref("#/components/messages/" + n)
	}
	topic := map[string]any{"topic": cfg.TopicPrefix + ch.stream, "bindingVersion": kafkaBindingVersion}
	o := map[string]any{
		"address":  cfg.TopicPrefix + ch.stream,
		"title":    ch.stream,
		"messages": msgs,
		"bindings": map[string]any{"kafka": topic},
	}
	if ch.pattern {
		o["address"] = nil // unknown until matched: the description says how
		o["description"] = fmt.Sprintf("The topics %q matches (fnmatch-style, with the topic prefix %q): picked up as they are created.", cfg.TopicPrefix+ch.stream, cfg.TopicPrefix)
		delete(topic, "topic")
		return o
	}
	o["description"] = fmt.Sprintf("Stream %s: topic %s. Created on the first publish with %d partitions and a replication factor of %s.",
		ch.stream, cfg.TopicPrefix+ch.stream, cfg.Partitions, replication(cfg))
	topic["partitions"] = cfg.Partitions
	if cfg.ReplicationFactor > 0 {
		topic["replicas"] = cfg.ReplicationFactor
	}
	if ch.retention > 0 {
		topic["topicConfiguration"] = map[string]any{"retention.ms": ch.retention}
	}
	return o
}

func replication(cfg core.Config) string {
	if cfg.ReplicationFactor > 0 {
		return fmt.Sprint(cfg.ReplicationFactor)
	}
	return "min(3, brokers up), or the cluster's default.replication.factor if higher"
}

func (b *builder) operation(action string, ch *channel, messages []string, description string, bindings map[string]any) map[string]any {
	refs := make([]any, 0, len(messages))
	for _, n := range slices.Sorted(slices.Values(messages)) {
		refs = append(refs, ref("#/channels/"+ch.id+"/messages/"+n))
	}
	o := map[string]any{
		"action":      action,
		"channel":     ref("#/channels/" + ch.id),
		"messages":    refs,
		"description": description,
	}
	if bindings != nil {
		o["bindings"] = bindings
	}
	return o
}

// messagesFor returns the messages a handler of t takes: its schema's, or
// every schema's when it takes any message.
func (b *builder) messagesFor(t reflect.Type, all []*core.Schema) []string {
	if s, ok := b.byType[t]; ok {
		return []string{messageName(s)}
	}
	if t != nil && t.Kind() == reflect.Pointer {
		if s, ok := b.byType[t.Elem()]; ok {
			return []string{messageName(s)}
		}
	}
	var names []string
	for _, s := range all {
		names = append(names, messageName(s))
	}
	if _, ok := b.messages[anyMessageName]; !ok {
		b.messages[anyMessageName] = anyMessage()
	}
	return append(names, anyMessageName)
}

// opID names an operation: action, channel and what tells it apart.
func opID(action, channel, what string) string {
	return componentName(action + "." + channel + "." + what)
}

func ref(to string) map[string]any { return map[string]any{"$ref": to} }

// notComponentChar is what a component's name may not hold.
var notComponentChar = regexp.MustCompile(`[^\w.\-]`)

// componentName makes s a name AsyncAPI takes for a component or a
// channel (^[\w\d.\-_]+$): other characters become "_".
func componentName(s string) string {
	return notComponentChar.ReplaceAllString(s, "_")
}
