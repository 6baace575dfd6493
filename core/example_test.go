package core_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kafkaesk-go/kafkaesk/core"
	"github.com/kafkaesk-go/kafkaesk/kafkaesktest"
)

// ContentEdited is an event, as a kafkaesk model would be.
type ContentEdited struct {
	ContentID string   `json:"content_id"`
	Editor    string   `json:"editor"`
	Fields    []string `json:"fields"`
}

// Publish an event in the kafkaesk envelope and read it back with a plain
// kafka-go reader, as a Python kafkaesk consumer would receive it.
func Example() {
	broker, err := kafkaesktest.Start(nil) // an embedded broker; use your cluster's addresses instead
	if err != nil {
		panic(err)
	}
	defer broker.Close()
	ctx := context.Background()

	// One partition keeps the read-back below short; the default is 7.
	app, err := core.New(core.Config{Brokers: broker.Brokers(), TopicPrefix: "example.", Partitions: 1})
	if err != nil {
		panic(err)
	}
	defer app.Close(ctx)
	core.MustRegister[ContentEdited](app, &core.SchemaOptions{ID: "ContentEdited", Version: 2})

	err = app.Publish(ctx, "content.edited", ContentEdited{ContentID: "c-42", Editor: "ana", Fields: []string{"title"}},
		core.Key([]byte("c-42")), core.Headers(core.Header{Key: "source", Value: []byte("cms")}))
	if err != nil {
		panic(err)
	}

	r := kafka.NewReader(kafka.ReaderConfig{Brokers: broker.Brokers(), Topic: "example.content.edited", Partition: 0, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	m, err := r.ReadMessage(rctx)
	if err != nil {
		panic(err)
	}
	fmt.Println(m.Topic)
	fmt.Println(string(m.Key), m.Headers[0].Key+"="+string(m.Headers[0].Value))
	fmt.Println(string(m.Value))
	// Output:
	// example.content.edited
	// c-42 source=cms
	// {"schema":"ContentEdited:2","data":{"content_id":"c-42","editor":"ana","fields":["title"]}}
}

// Data is validated against the schema's JSON Schema before anything is
// sent; the error names each failing field.
func ExampleApplication_Publish_validation() {
	type Payment struct {
		Amount   int    `json:"amount" jsonschema:"minimum=1"`
		Currency string `json:"currency" jsonschema:"enum=EUR,enum=USD"`
	}
	// New connects to nothing; this Publish fails before it would.
	app, err := core.New(core.Config{Brokers: []string{"127.0.0.1:9092"}})
	if err != nil {
		panic(err)
	}
	defer app.Close(context.Background())
	core.MustRegister[Payment](app, nil)

	err = app.Publish(context.Background(), "payments", Payment{Amount: 0, Currency: "GBP"})
	var ve *core.ValidationError
	if errors.As(err, &ve) {
		for _, p := range ve.Problems {
			fmt.Printf("%s: %s\n", p.Field, p.Reason)
		}
	}
	// Output:
	// /amount: must be >= 1 but found 0
	// /currency: value must be one of "EUR", "USD"
}

// A package declares its schemas and hooks on a Router, without a global
// application; the program mounts it.
func ExampleApplication_Mount() {
	type UserCreated struct {
		UserID string `json:"user_id"`
	}
	users := core.NewRouter()
	core.MustRegister[UserCreated](users, &core.SchemaOptions{Retention: 7 * 24 * time.Hour, Streams: []string{"users"}})
	users.OnStart(func(context.Context) error { fmt.Println("users: starting"); return nil })

	app, err := core.New(core.Config{Brokers: []string{"127.0.0.1:9092"}})
	if err != nil {
		panic(err)
	}
	defer app.Close(context.Background())
	if err := app.Mount(users); err != nil {
		panic(err)
	}
	for _, s := range app.Schemas() {
		fmt.Println(s.Key(), s.Retention, s.Streams)
	}
	// Output:
	// UserCreated:1 168h0m0s [users]
}

// AddFlags gives a program the kafkaesk worker's flags and environment
// variables.
func ExampleAddFlags() {
	var cfg core.Config
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	if err := core.AddFlags(fs, &cfg); err != nil {
		panic(err)
	}
	err := fs.Parse([]string{
		"--kafka-servers", "kafka-1:9092,kafka-2:9092",
		"--topic-prefix", "prod.",
		"--kafka-settings", `{"acks": 1, "compression_type": "zstd", "linger_ms": 20}`,
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(cfg.Brokers, cfg.TopicPrefix, cfg.RequiredAcks, cfg.Compression, cfg.BatchTimeout)

	// An unknown setting is an error naming the key, never silently
	// ignored; FlagError (and New) report it without the value, which may
	// hold a password.
	fs = flag.NewFlagSet("worker", flag.ContinueOnError)
	_ = core.AddFlags(fs, &cfg)
	_ = fs.Parse([]string{"--kafka-settings", `{"lingr_ms": 20, "sasl_plain_password": "s3cret"}`})
	msg, _, _ := strings.Cut(cfg.FlagError().Error(), " (known:")
	fmt.Println(msg)
	// Output:
	// [kafka-1:9092 kafka-2:9092] prod. leader zstd 20ms
	// flag --kafka-settings (value not shown: it may hold a password): unknown setting "lingr_ms"
}

// Subscribe a typed handler to a glob pattern in a consumer group, and run
// it until the context ends. Graceful stop commits what was handled.
func ExampleSubscribe() {
	broker, err := kafkaesktest.Start(nil)
	if err != nil {
		panic(err)
	}
	defer broker.Close()
	ctx, stop := context.WithCancel(context.Background()) // signal.NotifyContext in a program
	defer stop()

	app, err := core.New(core.Config{Brokers: broker.Brokers(), TopicPrefix: "example.", Logger: quietLogger})
	if err != nil {
		panic(err)
	}
	defer app.Close(ctx)

	var handled sync.WaitGroup
	handled.Add(2)
	_, err = core.Subscribe(app, "content.*", "indexer", func(ctx context.Context, m *core.Message[ContentEdited]) error {
		defer handled.Done()
		fmt.Printf("%s from %s: %s edited %v\n", m.Schema, m.Record.Topic, m.Data.ContentID, m.Data.Fields)
		return nil
	}, nil)
	if err != nil {
		panic(err)
	}

	// Publish before Run: a new group reads from the earliest offset.
	app.Publish(ctx, "content.edited", ContentEdited{ContentID: "c-1", Fields: []string{"title"}}, core.Key([]byte("c")))
	app.Publish(ctx, "content.edited", ContentEdited{ContentID: "c-2", Fields: []string{"body"}}, core.Key([]byte("c")))

	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	handled.Wait()
	stop()
	fmt.Println("run:", <-done)
	// Output:
	// ContentEdited:1 from example.content.edited: c-1 edited [title]
	// ContentEdited:1 from example.content.edited: c-2 edited [body]
	// run: <nil>
}

var quietLogger = slog.New(slog.DiscardHandler)

// Publish two messages atomically, then abort a transaction: a
// read_committed reader sees the committed pair, never the aborted one.
func ExampleApplication_Transact() {
	broker, err := kafkaesktest.Start(nil)
	if err != nil {
		panic(err)
	}
	defer broker.Close()
	ctx := context.Background()

	app, err := core.New(core.Config{
		Brokers:         broker.Brokers(),
		Client:          core.ClientFranzGo, // kafka-go has no transactions
		TransactionalID: "example-billing-1",
		TopicPrefix:     "example.",
		Partitions:      1,
	})
	if err != nil {
		panic(err)
	}
	defer app.Close(ctx)

	err = app.Transact(ctx, func(ctx context.Context, tx *core.Tx) error {
		if err := tx.RawPublish(ctx, "billing", []byte("order 1 paid")); err != nil {
			return err
		}
		return tx.RawPublish(ctx, "billing", []byte("invoice 1 sent"))
	})
	fmt.Println("first:", err)
	err = app.Transact(ctx, func(ctx context.Context, tx *core.Tx) error {
		if err := tx.RawPublish(ctx, "billing", []byte("order 2 paid")); err != nil {
			return err
		}
		return errors.New("the invoice could not be made")
	})
	fmt.Println("second:", err)

	// Kafka writes a transaction's commit marker a moment after Transact
	// returns: until then the stream's end for read_committed (its last
	// stable offset) is before the transaction, and reading up to it
	// reads nothing. So read again while it does.
	var committed []string
	for try := 0; len(committed) == 0 && try < 100; try++ {
		if try > 0 {
			time.Sleep(10 * time.Millisecond)
		}
		_ = app.Read(ctx, "billing", &core.ReadOptions{UntilEnd: true, ReadCommitted: true}, func(_ context.Context, r *core.Record) error {
			committed = append(committed, string(r.Value))
			return nil
		})
	}
	for _, v := range committed {
		fmt.Println(v)
	}
	// Output:
	// first: <nil>
	// second: the invoice could not be made
	// order 1 paid
	// invoice 1 sent
}
