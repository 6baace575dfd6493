package main

import (
	"context"
	"io"

	"github.com/kafkaesk-go/kafkaesk/asyncapi"
	"github.com/kafkaesk-go/kafkaesk/core"
)

// contract is one application with everything the steps register,
// publish and subscribe to: what the AsyncAPI document describes. It does
// not connect to the brokers.
func contract(cfg core.Config) (*core.Application, error) {
	app, err := core.New(cfg)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			app.Close(context.Background())
		}
	}()
	if _, err := core.Register[ContentMessage](app, contentSchema); err != nil {
		return nil, err
	}
	if _, err := core.Register[ContentIndexed](app, &core.SchemaOptions{Streams: []string{indexedStream}}); err != nil {
		return nil, err
	}
	if _, err := core.Produces[ContentMessage](app, contentStream, reviewStream); err != nil {
		return nil, err
	}
	if _, err := core.Produces[ContentIndexed](app, indexedStream); err != nil {
		return nil, err
	}
	ignore := func(context.Context, *core.Message[ContentMessage]) error { return nil }
	group := func(name string) string { return cfg.TopicPrefix + name }
	for _, name := range []string{"readme-subscribe", "readme-router", "readme-manual"} {
		if _, err := core.Subscribe(app, "content.*", group(name), ignore, nil); err != nil {
			return nil, err
		}
	}
	if _, err := core.Subscribe(app, reviewStream, group("readme-indexer"), ignore, nil); err != nil {
		return nil, err
	}
	if _, err := core.Subscribe(app, indexedStream, group("readme-audit"), func(context.Context, *core.Message[ContentIndexed]) error { return nil }, nil); err != nil {
		return nil, err
	}
	ok = true
	return app, nil
}

// printAsyncAPI writes the contract's AsyncAPI document, as JSON, to w.
func printAsyncAPI(cfg core.Config, w io.Writer) error {
	app, err := contract(cfg)
	if err != nil {
		return err
	}
	defer app.Close(context.Background())
	doc, err := asyncapi.Build(app, &asyncapi.Options{
		Title:       "kafkaesk pubsub example",
		Version:     "1.0.0",
		Description: "The README's steps: content published and read by groups, a router, a manual commit, an indexer that republishes with the request's headers.",
	})
	if err != nil {
		return err
	}
	b, err := doc.JSON()
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
