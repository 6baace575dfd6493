// Command service is a small HTTP service that logs every request twice
// through one slog.Logger: as kafkaesk log events to a Kafka stream
// (package sloghandler) and as human-readable lines on stderr (package
// streamhandler). It is the reference for wiring the handlers into a
// service:
//
//   - core.AddFlags gives it --kafka-servers, --kafka-settings and
//     --topic-prefix, and their KAFKAESK_* environment variables;
//   - Application.Ping checks the broker before anything starts;
//   - slog.NewMultiHandler sends each record to the console and to Kafka;
//   - a log model (HTTPRequest, which embeds record.Model) is passed in an
//     ordinary slog call, and its fields land in the event;
//   - it serves its AsyncAPI document (package asyncapi) at /asyncapi.json
//     and /asyncapi.yaml, and as a page at /docs;
//   - core.Config.Metrics registers kafkaesk's metrics, and sloghandler's,
//     in a registry served on GET /metrics;
//   - every request runs in an OpenTelemetry span (continuing a caller's
//     W3C traceparent), so that its log lines carry trace_id and span_id;
//   - on SIGINT or SIGTERM the HTTP server shuts down first, then the Kafka
//     handler delivers what is queued (bounded by a timeout), and the
//     service exits 0.
//
// Run it against a broker, with two requests a second of made-up traffic
// so that logs flow without anyone clicking:
//
//	go run ./examples/service --kafka-servers 127.0.0.1:9092 --traffic 2
//	curl 'http://127.0.0.1:8080/hello?name=ana'
//
// Without --kafka-servers (or $KAFKAESK_KAFKA_SERVERS) the broker is
// 127.0.0.1:9092. The service exits 0 after a clean stop; 1 when the
// broker is unreachable, the address is taken or logs could not be
// delivered; 2 on a bad flag.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kafkaesk-go/kafkaesk/asyncapi"
	"github.com/kafkaesk-go/kafkaesk/core"
	"github.com/kafkaesk-go/kafkaesk/sloghandler"
	"github.com/kafkaesk-go/kafkaesk/streamhandler"
)

const (
	defaultBroker = "127.0.0.1:9092"
	// stopTimeout bounds each stage of a stop: draining HTTP requests, then
	// delivering the queued logs.
	stopTimeout = 10 * time.Second
	maxTraffic  = 1000
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the service: it parses args, serves until ctx ends, and returns
// the exit code. Where it listens goes to stdout; logs to stderr and Kafka.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var cfg core.Config
	fs := flag.NewFlagSet("service", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := core.AddFlags(fs, &cfg); err != nil {
		fmt.Fprintln(stderr, "service:", err)
		return 2
	}
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on, host:port")
	stream := fs.String("stream", "logs.example-service", "stream the logs are published to (topic: prefix + stream)")
	traffic := fs.Int("traffic", 0, fmt.Sprintf("demo: request the service's own endpoints this many times a second, 0 to %d", maxTraffic))
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if err := cfg.FlagError(); err != nil { // a malformed --kafka-settings, its value (a password?) not shown
		fmt.Fprintf(stderr, "service: %v\n", err)
		fs.Usage()
		return 2
	}
	if err := checkFlags(fs.Args(), *addr, *stream, *traffic); err != nil {
		fmt.Fprintln(stderr, err)
		fs.Usage()
		return 2
	}
	if len(cfg.Brokers) == 0 {
		cfg.Brokers = []string{defaultBroker}
	}

	console := streamhandler.New(stderr, nil)
	// The application's own diagnostics go to the console only: through
	// the Kafka handler they could loop.
	cfg.Logger = slog.New(console)
	// kafkaesk's metrics, the logging pipeline's and the runtime's, on
	// GET /metrics.
	metrics := prometheus.NewRegistry()
	metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	cfg.Metrics = metrics
	tracerProvider, propagator := newTracing()
	defer tracerProvider.Shutdown(context.WithoutCancel(ctx))
	cfg.TracerProvider, cfg.Propagator = tracerProvider, propagator
	app, err := core.New(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "service:", err)
		return 2
	}
	defer closeApp(app, stderr)
	pingCtx, cancel := context.WithTimeout(ctx, stopTimeout)
	err = app.Ping(pingCtx)
	cancel()
	if err != nil {
		fmt.Fprintln(stderr, "service:", err)
		return 1
	}

	kafka, err := sloghandler.New(app, *stream, &sloghandler.Options{Logger: "example-service", Warnings: stderr})
	if err != nil {
		fmt.Fprintln(stderr, "service:", err)
		return 1
	}
	logger := slog.New(slog.NewMultiHandler(console, kafka))

	// The service's contract: the log events it writes to its stream.
	doc, err := asyncapi.Build(app, &asyncapi.Options{
		Title:       "example-service",
		Version:     "1.0.0",
		Description: "An HTTP service that logs every request, as a kafkaesk log event with the HTTPRequest model's fields, to its stream.",
		LogStreams:  []string{*stream},
	})
	if err != nil {
		fmt.Fprintln(stderr, "service:", err)
		return 1
	}
	routes := traced(newServer(logger, promhttp.HandlerFor(metrics, promhttp.HandlerOpts{}), asyncapi.Handler(doc)), tracerProvider, propagator)
	code := serve(ctx, logger, routes, *addr, *traffic, stdout)

	// Deliver what is queued. Past the timeout Close says how many events
	// are left; they stay with app, whose Close (deferred) retries them for
	// another stopTimeout and then gives up on each, as failed (not in the
	// topic) or of unknown outcome (a request carried it: it may be).
	closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
	defer cancel()
	if err := kafka.Close(closeCtx); err != nil {
		fmt.Fprintln(stderr, "service: logs not delivered:", err)
		return 1
	}
	fmt.Fprintf(stdout, "delivered %d log events to %s\n", kafka.Stats().Published, app.Topic(*stream))
	return code
}

// serve listens on addr and serves routes until ctx ends, then shuts the
// server down gracefully. It returns the exit code.
func serve(ctx context.Context, logger *slog.Logger, routes http.Handler, addr string, traffic int, stdout io.Writer) int {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		logger.Error("cannot listen", "err", err)
		return 1
	}
	srv := &http.Server{
		Handler:           routes,
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	url := "http://" + ln.Addr().String()
	logger.Info("service started", "addr", ln.Addr().String())
	fmt.Fprintln(stdout, "listening on", url)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	var generator sync.WaitGroup
	trafficCtx, stopTraffic := context.WithCancel(ctx)
	defer stopTraffic()
	if traffic > 0 {
		generator.Go(func() { generateTraffic(trafficCtx, url, traffic, logger) })
	}

	code := 0
	select {
	case <-ctx.Done():
	case err := <-served: // Serve stops by itself only on an error
		logger.Error("server failed", "err", err)
		code = 1
	}
	stopTraffic()
	generator.Wait()

	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		logger.Error("shutdown", "err", err)
		code = 1
	}
	logger.Info("service stopped")
	return code
}

// checkFlags checks the service's own flags, naming the one at fault as
// the flag package does.
func checkFlags(args []string, addr, stream string, traffic int) error {
	if len(args) > 0 {
		return fmt.Errorf("unexpected argument %q", args[0])
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("invalid value %q for flag -addr: %v", addr, err)
	}
	if stream == "" {
		return errors.New(`invalid value "" for flag -stream: the stream is empty`)
	}
	if traffic < 0 || traffic > maxTraffic {
		return fmt.Errorf("invalid value \"%d\" for flag -traffic: want 0 to %d requests a second", traffic, maxTraffic)
	}
	return nil
}

func closeApp(app *core.Application, stderr io.Writer) {
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	if err := app.Close(ctx); err != nil {
		fmt.Fprintln(stderr, "service: close:", err)
	}
}
