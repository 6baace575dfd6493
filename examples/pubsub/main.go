// Command pubsub runs the examples of the kafkaesk README, in Go and in
// order, against a Kafka broker:
//
//	(a) publish a typed event, its schema generated from a Go type
//	(b) subscribe a handler to a pattern, in a consumer group
//	(c) declare a subscription on a Router and mount it into an application
//	(d) commit by hand, with auto-commit off
//	(e) publish a follow-up event carrying the consumed message's headers
//
// Each step prints what its handlers saw. The program exits 0 once every
// step has seen its messages, 1 when one has not within --timeout, and 2 on
// a bad flag.
//
// Without --kafka-servers (or $KAFKAESK_KAFKA_SERVERS) it starts an
// embedded broker, so that it runs on a machine with nothing but Go:
//
//	go run ./examples/pubsub
//	go run ./examples/pubsub --kafka-servers 127.0.0.1:9092
//
// The steps expect topics of their own: without --topic-prefix each run
// gets a new random prefix (on a shared cluster, its topics stay behind).
// Consumer groups are named after the prefix too, so that two runs never
// share a group.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/kafkaesk-go/kafkaesk/core"
	"github.com/kafkaesk-go/kafkaesk/kafkaesktest"
	"github.com/kafkaesk-go/kafkaesk/streamhandler"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run parses args, runs the steps and returns the exit code. The steps'
// lines go to stdout; the broker, the topic prefix and errors to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var cfg core.Config
	fs := flag.NewFlagSet("pubsub", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := core.AddFlags(fs, &cfg); err != nil {
		fmt.Fprintln(stderr, "pubsub:", err)
		return 2
	}
	timeout := fs.Duration("timeout", time.Minute, "give up when the steps have not seen their messages by then")
	printDoc := fs.Bool("asyncapi", false, "print the example's AsyncAPI 3.0 document (JSON) and exit, without a broker")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if err := cfg.FlagError(); err != nil { // a malformed --kafka-settings, its value (a password?) not shown
		fmt.Fprintf(stderr, "pubsub: %v\n", err)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "pubsub: unexpected argument %q\n", fs.Arg(0))
		return 2
	}

	if *printDoc {
		if len(cfg.Brokers) == 0 {
			cfg.Brokers = []string{"localhost:9092"}
		}
		if err := printAsyncAPI(cfg, stdout); err != nil {
			fmt.Fprintln(stderr, "pubsub: --asyncapi:", err)
			return 1
		}
		return 0
	}
	if len(cfg.Brokers) == 0 {
		broker, err := kafkaesktest.Start(nil)
		if err != nil {
			fmt.Fprintln(stderr, "pubsub: start an embedded broker:", err)
			return 1
		}
		defer broker.Close()
		cfg.Brokers = broker.Brokers()
		fmt.Fprintln(stderr, "no --kafka-servers: started an embedded broker at", broker.Addr())
	}
	if cfg.TopicPrefix == "" {
		cfg.TopicPrefix = "pubsub-" + strings.ToLower(rand.Text()[:8]) + "."
		fmt.Fprintln(stderr, "no --topic-prefix: this run's topics start with", cfg.TopicPrefix)
	}
	// The applications' own diagnostics (skipped messages, retries).
	cfg.Logger = slog.New(streamhandler.New(stderr, &streamhandler.Options{Level: slog.LevelWarn}))

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	ex := &example{cfg: cfg, out: stdout, errs: stderr}
	for _, step := range []struct {
		name string
		run  func(context.Context) error
	}{
		{"(a) publish", ex.publish},
		{"(b) subscribe", ex.subscribe},
		{"(c) router", ex.router},
		{"(d) manual commit", ex.manualCommit},
		{"(e) headers", ex.headers},
	} {
		if err := step.run(ctx); err != nil {
			fmt.Fprintf(stderr, "pubsub: %s: %v\n", step.name, err)
			return 1
		}
	}
	fmt.Fprintln(stdout, "all steps saw their messages")
	return 0
}
