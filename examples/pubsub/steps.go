package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/kafkaesk-go/kafkaesk/core"
)

// ContentMessage is the README's event:
//
//	@app.schema("Content", version=1, retention=24 * 60 * 60)
//	class ContentMessage(pydantic.BaseModel):
//	    foo: str
type ContentMessage struct {
	Foo string `json:"foo"`
}

// contentSchema registers ContentMessage as "Content:1", its topics kept
// for a day.
var contentSchema = &core.SchemaOptions{ID: "Content", Version: 1, Retention: 24 * time.Hour}

// ContentIndexed is the follow-up event of step (e). Its stream is created
// when the application starts.
type ContentIndexed struct {
	Foo     string `json:"foo"`
	Indexer string `json:"indexer"`
}

// The streams of the steps. Every ContentMessage is published with the same
// key, so that they all land on one partition, in order.
const (
	contentStream = "content.edited.Resource"
	reviewStream  = "review.content"
	indexedStream = "indexed.content"
)

var contentKey = core.Key([]byte("resource-1"))

// example holds what the steps share: the configuration from the flags and
// where to print.
type example struct {
	cfg  core.Config
	out  io.Writer // the steps' lines
	errs io.Writer // close errors
}

// seen is what a handler saw, sent to the step waiting for it.
type seen struct {
	stream  string
	schema  string
	foo     string
	headers string
}

func (e *example) printf(format string, args ...any) {
	fmt.Fprintf(e.out, format+"\n", args...)
}

// group names a consumer group of this run: groups are not prefixed by
// kafkaesk, but runs against a shared cluster must not share them.
func (e *example) group(name string) string { return e.cfg.TopicPrefix + name }

// newApp returns an application for the configuration, changed by edit.
func (e *example) newApp(edit func(*core.Config)) (*core.Application, error) {
	cfg := e.cfg
	if edit != nil {
		edit(&cfg)
	}
	return core.New(cfg)
}

// close closes app with a deadline of its own: the steps' context may have
// ended already.
func (e *example) close(app *core.Application) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := app.Close(ctx); err != nil {
		fmt.Fprintln(e.errs, "pubsub: close:", err)
	}
}

// (a) app.publish("content.edited.Resource", data=ContentMessage(foo="bar"))
func (e *example) publish(ctx context.Context) error {
	app, err := e.newApp(nil)
	if err != nil {
		return err
	}
	defer e.close(app)
	if err := app.Ping(ctx); err != nil {
		return err
	}
	schema, err := core.Register[ContentMessage](app, contentSchema)
	if err != nil {
		return err
	}
	if err := app.Publish(ctx, contentStream, ContentMessage{Foo: "bar"}, contentKey); err != nil {
		return err
	}
	e.printf("(a) published %s foo=bar to %s", schema.Key(), contentStream)
	return nil
}

// (b) @app.subscribe("content.*", "group_id") on the event of (a).
func (e *example) subscribe(ctx context.Context) error {
	app, err := e.newApp(nil)
	if err != nil {
		return err
	}
	defer e.close(app)
	core.MustRegister[ContentMessage](app, contentSchema)
	got := make(chan seen, 16)
	_, err = core.Subscribe(app, "content.*", e.group("readme-subscribe"), e.forward(got), nil)
	if err != nil {
		return err
	}
	s, err := runUntil(ctx, app, got)
	if err != nil {
		return err
	}
	e.printf("(b) group readme-subscribe got %s from %s: foo=%s", s.schema, s.stream, s.foo)
	return nil
}

// contentRouter is what a package declares without an application, as
// kafkaesk's Router: its schema and a subscription.
func contentRouter(group string, handler core.Handler[ContentMessage]) (*core.Router, error) {
	router := core.NewRouter()
	if _, err := core.Register[ContentMessage](router, contentSchema); err != nil {
		return nil, err
	}
	if _, err := core.Subscribe(router, "content.*", group, handler, nil); err != nil {
		return nil, err
	}
	return router, nil
}

// (c) app.mount(router): the router's subscription reads the event of (a)
// in a group of its own.
func (e *example) router(ctx context.Context) error {
	got := make(chan seen, 16)
	router, err := contentRouter(e.group("readme-router"), e.forward(got))
	if err != nil {
		return err
	}
	app, err := e.newApp(nil)
	if err != nil {
		return err
	}
	defer e.close(app)
	if err := app.Mount(router); err != nil {
		return err
	}
	s, err := runUntil(ctx, app, got)
	if err != nil {
		return err
	}
	e.printf("(c) mounted a router; its group readme-router got %s from %s: foo=%s", s.schema, s.stream, s.foo)
	return nil
}

// (d) Application(auto_commit=False), and a handler that commits: the
// member handles the event of (a) and commits it; a second member of the
// group, started later, gets only what was published since.
func (e *example) manualCommit(ctx context.Context) error {
	group := e.group("readme-manual")
	member := func(commit bool) (*core.Application, chan seen, error) {
		app, err := e.newApp(func(c *core.Config) { c.DisableAutoCommit = true })
		if err != nil {
			return nil, nil, err
		}
		core.MustRegister[ContentMessage](app, contentSchema)
		got := make(chan seen, 16)
		forward := e.forward(got)
		_, err = core.Subscribe(app, "content.*", group, func(ctx context.Context, m *core.Message[ContentMessage]) error {
			if commit {
				if err := m.Commit(ctx); err != nil {
					return err
				}
			}
			return forward(ctx, m)
		}, nil)
		if err != nil {
			e.close(app)
			return nil, nil, err
		}
		return app, got, nil
	}

	first, got, err := member(true)
	if err != nil {
		return err
	}
	s, err := runUntil(ctx, first, got)
	e.close(first)
	if err != nil {
		return err
	}
	e.printf("(d) group readme-manual got foo=%s and committed it", s.foo)

	// Without the commit, the second member would get foo=bar again first:
	// auto-commit is off, and nothing else commits.
	second, got, err := member(false)
	if err != nil {
		return err
	}
	defer e.close(second)
	if err := second.Publish(ctx, contentStream, ContentMessage{Foo: "qux"}, contentKey); err != nil {
		return err
	}
	if s, err = runUntil(ctx, second, got); err != nil {
		return err
	}
	if s.foo != "qux" {
		return fmt.Errorf("the new member got foo=%s first: the commit did not hold", s.foo)
	}
	e.printf("(d) published foo=qux; a new member of readme-manual got foo=qux, and not foo=bar again")
	return nil
}

// (e) A handler that publishes a follow-up event with the consumed
// message's headers (kafkaesk's subscriber.publish), and a second
// subscription that reads them from the follow-up.
func (e *example) headers(ctx context.Context) error {
	app, err := e.newApp(nil)
	if err != nil {
		return err
	}
	defer e.close(app)
	core.MustRegister[ContentMessage](app, contentSchema)
	if _, err := core.Register[ContentIndexed](app, &core.SchemaOptions{Streams: []string{indexedStream}}); err != nil {
		return err
	}

	indexed := make(chan seen, 16)
	_, err = core.Subscribe(app, reviewStream, e.group("readme-indexer"), func(ctx context.Context, m *core.Message[ContentMessage]) error {
		// m.Publish puts the consumed record's headers first.
		if err := m.Publish(ctx, indexedStream, ContentIndexed{Foo: m.Data.Foo, Indexer: "readme-indexer"}, core.Key(m.Record.Key)); err != nil {
			return err
		}
		return e.forward(indexed)(ctx, m)
	}, nil)
	if err != nil {
		return err
	}
	audited := make(chan seen, 16)
	_, err = core.Subscribe(app, indexedStream, e.group("readme-audit"), func(ctx context.Context, m *core.Message[ContentIndexed]) error {
		return send(ctx, audited, seen{
			stream:  e.stream(m.Record),
			schema:  m.Schema,
			foo:     fmt.Sprintf("%s indexer=%s", m.Data.Foo, m.Data.Indexer),
			headers: formatHeaders(m.Record.Headers),
		})
	}, nil)
	if err != nil {
		return err
	}

	request := core.Header{Key: "x-request-id", Value: []byte("req-42")}
	if err := app.Publish(ctx, reviewStream, ContentMessage{Foo: "baz"}, contentKey, core.Headers(request)); err != nil {
		return err
	}
	e.printf("(e) published foo=baz to %s with %s", reviewStream, formatHeaders([]core.Header{request}))

	r := start(ctx, app)
	defer r.stop()
	s, err := r.await(ctx, indexed)
	if err != nil {
		return err
	}
	e.printf("(e) group readme-indexer got foo=%s with %s and published ContentIndexed to %s", s.foo, s.headers, indexedStream)
	if s, err = r.await(ctx, audited); err != nil {
		return err
	}
	e.printf("(e) group readme-audit got %s from %s: foo=%s with %s", s.schema, s.stream, s.foo, s.headers)
	return r.stop()
}

// forward returns a handler that sends what it got to got.
func (e *example) forward(got chan<- seen) core.Handler[ContentMessage] {
	return func(ctx context.Context, m *core.Message[ContentMessage]) error {
		return send(ctx, got, seen{stream: e.stream(m.Record), schema: m.Schema, foo: m.Data.Foo, headers: formatHeaders(m.Record.Headers)})
	}
}

// stream returns the stream of a record: its topic without the prefix.
func (e *example) stream(r *core.Record) string {
	return strings.TrimPrefix(r.Topic, e.cfg.TopicPrefix)
}

func formatHeaders(headers []core.Header) string {
	if len(headers) == 0 {
		return "no headers"
	}
	parts := make([]string, len(headers))
	for i, h := range headers {
		parts[i] = h.Key + "=" + string(h.Value)
	}
	return "headers " + strings.Join(parts, ", ")
}
