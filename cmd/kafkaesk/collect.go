package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kafkaesk-go/kafkaesk/collector"
	"github.com/kafkaesk-go/kafkaesk/record"
)

const collectSynopsis = "--pattern PATTERN [--pattern PATTERN...] --group GROUP --output OUTPUT [--output OUTPUT...] [--min-level LEVEL] [--trace-id ID...]"

// runCollect is the collector daemon.
func runCollect(ctx context.Context, std *stdio, args []string) error {
	fs := newFlagSet("collect", collectSynopsis, std)
	kf := addKafkaFlags(fs)
	kf.addSpoolFlags(fs)
	var patterns, outputs, services, loggers, streams, traceIDs stringList
	fs.Var(&patterns, "pattern", "stream pattern to collect, fnmatch-style (\"logs.*\"); repeatable; required")
	group := fs.String("group", "", "consumer group; collectors sharing it share the partitions; required")
	fs.Var(&outputs, "output", "where events go, repeatable: pretty, jsonl (stdout), jsonl:PATH, file:PATH (rotated); default pretty")
	minLevel := fs.String("min-level", "", "drop events below this level: debug, info, warning, error, critical or a number")
	fs.Var(&services, "service", "keep only events whose service matches this pattern; repeatable")
	fs.Var(&loggers, "logger", "keep only events whose logger matches this pattern; repeatable")
	fs.Var(&streams, "stream", "keep only events of streams matching this pattern; repeatable")
	fs.Var(&traceIDs, "trace-id", "keep only events of this trace: the events' trace_id, 32 hex digits; repeatable")
	deadLetter := fs.String("dead-letter", "", "stream receiving messages that are not log events (default: count and skip them)")
	httpAddr := fs.String("http", "127.0.0.1:9464", "address serving /metrics, /healthz and /readyz; empty: none")
	fromLatest := fs.Bool("from-latest", false, "a new group starts at the end of the streams, not their beginning")
	concurrency := fs.Int("concurrency", 0, "messages handled at once across partitions (default 4)")
	var file collector.FileOptions
	fs.BoolVar(&file.Sync, "fsync", false, "fsync file outputs before each offset commit")
	fs.IntVar(&file.MaxSizeMB, "max-size-mb", 100, "file: outputs rotate at this size, in MiB")
	fs.IntVar(&file.MaxBackups, "max-backups", 0, "file: rotated files kept (0: all)")
	fs.IntVar(&file.MaxAgeDays, "max-age-days", 0, "file: rotated files older than this are removed (0: never)")
	fs.BoolVar(&file.Compress, "compress", false, "file: gzip rotated files")
	drain := fs.Duration("drain-timeout", 10*time.Second, "on SIGINT/SIGTERM, how long in-flight events may take to be written and committed")
	local := addEmbeddedBrokerFlags(fs)

	rest, err := kf.parse(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(rest) > 0:
		return usagef("unexpected argument %q: give streams with --pattern", rest[0])
	case len(patterns) == 0:
		return usagef("flag --pattern is required")
	case *group == "":
		return usagef("flag --group is required")
	case *concurrency < 0:
		return usagef("flag --concurrency: want 0 or more, got %d", *concurrency)
	case *drain <= 0:
		return usagef("flag --drain-timeout: want a positive duration, got %v", *drain)
	case file.MaxSizeMB <= 0:
		return usagef("flag --max-size-mb: want 1 or more, got %d", file.MaxSizeMB)
	}
	var filter collector.Filter
	if *minLevel != "" {
		l, err := parseLevel(*minLevel)
		if err != nil {
			return usagef("flag --min-level: %v", err)
		}
		filter.MinLevel = l
	}
	filter.Services, filter.Loggers, filter.Streams = services, loggers, streams
	if _, err := parseTraceIDs(traceIDs); err != nil {
		return usagef("flag --trace-id: %v", err)
	}
	filter.TraceIDs = traceIDs
	if len(outputs) == 0 {
		outputs = stringList{"pretty"}
	}
	for _, spec := range outputs {
		if err := checkOutputSpec(spec); err != nil {
			return usagef("flag --output: %v", err)
		}
	}

	cfg := kf.config(std)
	cfg.ShutdownTimeout = *drain
	// The core's metrics, served by /metrics with the collector's.
	cfg.Metrics = prometheus.NewRegistry()
	stopBroker, err := local.startUnlessGiven(kf, &cfg, std)
	if err != nil {
		return err
	}
	defer stopBroker()
	app, err := connect(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeApp(app)

	outs, err := openOutputs(outputs, std, &file)
	if err != nil {
		return err
	}
	c, err := collector.New(app, collector.Options{
		Patterns:         patterns,
		Group:            *group,
		Outputs:          outs,
		Filter:           filter,
		DeadLetterStream: *deadLetter,
		Concurrency:      *concurrency,
		StartFromLatest:  *fromLatest,
		Logger:           cfg.Logger,
	})
	if err != nil {
		closeOutputs(outs)
		return err
	}
	if *httpAddr != "" {
		stop, err := serveHTTP(*httpAddr, c.Handler(), cfg.Logger)
		if err != nil {
			closeOutputs(outs)
			return err
		}
		defer stop()
		fmt.Fprintf(std.err, "kafkaesk collect: metrics on http://%s/metrics\n", *httpAddr)
	}
	fmt.Fprintf(std.err, "kafkaesk collect: collecting %s (group %s) into %s\n",
		strings.Join(patterns, ", "), *group, strings.Join(outputs, ", "))
	err = c.Run(ctx)
	s := c.Stats()
	fmt.Fprintf(std.err, "kafkaesk collect: stopped: received %d, written %d, skipped %d (not log events), dropped %d (filtered)\n",
		s.Received, s.Written, s.Skipped, s.Dropped)
	return err
}

// checkOutputSpec checks an --output's form, not whether it opens.
func checkOutputSpec(spec string) error {
	kind, path, hasPath := strings.Cut(spec, ":")
	switch {
	case (spec == "pretty" || spec == "jsonl") && !hasPath:
		return nil
	case (kind == "jsonl" || kind == "file") && hasPath && path != "":
		return nil
	}
	return fmt.Errorf("%q: want pretty, jsonl, jsonl:PATH or file:PATH", spec)
}

func openOutputs(specs []string, std *stdio, file *collector.FileOptions) ([]collector.Output, error) {
	var outs []collector.Output
	for _, spec := range specs {
		o, err := collector.ParseOutput(spec, std.out, file)
		if err != nil {
			closeOutputs(outs)
			return nil, err
		}
		outs = append(outs, o)
	}
	return outs, nil
}

func closeOutputs(outs []collector.Output) {
	for _, o := range outs {
		_ = o.Close()
	}
}

// parseLevel reads a level name (Python's or slog's) or a Python number.
func parseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warning", "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	case "critical", "fatal":
		return record.LevelCriticalSlog, nil
	}
	if n, err := strconv.Atoi(s); err == nil && n >= 0 {
		return record.SlogLevel(n), nil
	}
	return 0, fmt.Errorf("%q: want debug, info, warning, error, critical or a Python level number", s)
}

// serveHTTP serves h on addr until the returned stop is called.
func serveHTTP(addr string, h http.Handler, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--http %s: %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Error("kafkaesk: metrics server failed", "addr", addr, "err", err)
		}
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	}, nil
}
