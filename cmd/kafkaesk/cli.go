package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/kafkaesk-go/kafkaesk/core"
	"github.com/kafkaesk-go/kafkaesk/kafkaesktest"
)

// stdio is a command's standard streams.
type stdio struct {
	in       io.Reader
	out, err io.Writer
}

// usageError is a bad command line: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// errHelp is returned after --help printed the usage: exit code 0.
var errHelp = flag.ErrHelp

// newFlagSet returns the flag set of a command, printing its usage to
// stderr with the flags spelled with two dashes.
func newFlagSet(name, synopsis string, std *stdio) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // parse errors are reported by run
	fs.Usage = func() {
		w := std.err
		fmt.Fprintln(w, strings.TrimSpace("usage: kafkaesk "+name+" "+synopsis))
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprintf(w, "\nFlags:\n")
		}
		fs.VisitAll(func(f *flag.Flag) {
			kind, help := flag.UnquoteUsage(f)
			line := "  --" + f.Name
			if kind != "" {
				line += " " + kind
			}
			fmt.Fprintf(w, "%s\n    \t%s", line, strings.ReplaceAll(help, "\n", "\n    \t"))
			if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "[]" {
				fmt.Fprintf(w, " (default %s)", f.DefValue)
			}
			fmt.Fprintln(w)
		})
	}
	return fs
}

// parseArgs parses flags and positional arguments in any order, as the
// synopsis "kafkaesk tail PATTERN --from-beginning" needs ("--" ends the
// flags). It returns the positional arguments.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	// The flag package prints the usage on every parse error and on
	// --help; run reports errors, and --help prints it once, here.
	usage := fs.Usage
	fs.Usage = func() {}
	defer func() { fs.Usage = usage }()
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				usage()
				return nil, errHelp
			}
			return nil, &usageError{dashDash.ReplaceAllString(redactSecretFlag(err.Error()), "$1--$2")}
		}
		rest := fs.Args()
		if k := len(args) - len(rest); k > 0 && args[k-1] == "--" {
			return append(positional, rest...), nil // Parse consumed the "--"
		}
		if len(rest) == 0 {
			return positional, nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// secretFlags are the flags whose values may hold a password: a parse
// error does not echo them.
var secretFlags = map[string]bool{"kafka-settings": true, "sasl-password": true}

// invalidValue matches the flag package's message for a value its flag
// refused, which quotes the value.
var invalidValue = regexp.MustCompile(`^invalid value ".*" for flag -([A-Za-z][\w-]*): `)

// redactSecretFlag takes the value out of msg when it is a secret
// flag's.
func redactSecretFlag(msg string) string {
	m := invalidValue.FindStringSubmatch(msg)
	if m == nil || !secretFlags[m[1]] {
		return msg
	}
	return "invalid value (not shown: it may hold a password) for flag -" + m[1] + ": " + msg[len(m[0]):]
}

// dashDash finds the flag names in the flag package's messages, to spell
// them as the usage does: "flag provided but not defined: --x".
var dashDash = regexp.MustCompile(`(: |flag |for )-([A-Za-z])`)

// stringList is a flag that may be given several times.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

// kafkaFlags are the kafkaesk worker's flags every command takes.
type kafkaFlags struct {
	cfg      core.Config
	logLevel slog.Level
	envErr   error
}

// addKafkaFlags adds --kafka-servers, --kafka-settings, --topic-prefix,
// --replication-factor (and their KAFKAESK_* variables) and --log-level.
func addKafkaFlags(fs *flag.FlagSet) *kafkaFlags {
	k := &kafkaFlags{logLevel: slog.LevelWarn}
	k.envErr = core.AddFlags(fs, &k.cfg)
	fs.TextVar(&k.logLevel, "log-level", slog.LevelWarn, "level of the tool's own log on stderr: debug, info, warn, error")
	return k
}

// addSpoolFlags adds --spool-dir, --spool-max-bytes and --spool-sync
// (and their KAFKAESK_SPOOL_* variables), for the commands that publish.
func (k *kafkaFlags) addSpoolFlags(fs *flag.FlagSet) {
	k.envErr = errors.Join(k.envErr, core.AddSpoolFlags(fs, &k.cfg))
}

// check reports a malformed KAFKAESK_* variable, naming it.
func (k *kafkaFlags) check() error {
	if err := errors.Join(k.envErr, k.cfg.FlagError()); err != nil {
		return &usageError{err.Error()}
	}
	return nil
}

// parse parses args with fs (parseArgs), then checks the KAFKAESK_*
// variables.
func (k *kafkaFlags) parse(fs *flag.FlagSet, args []string) ([]string, error) {
	rest, err := parseArgs(fs, args)
	if err != nil {
		return nil, err
	}
	return rest, k.check()
}

// brokersGiven reports whether --kafka-servers or its variable was set.
func (k *kafkaFlags) brokersGiven() bool { return len(k.cfg.Brokers) > 0 }

// config returns the configuration with the tool's logger on stderr.
func (k *kafkaFlags) config(std *stdio) core.Config {
	cfg := k.cfg
	cfg.Logger = slog.New(slog.NewTextHandler(std.err, &slog.HandlerOptions{Level: k.logLevel}))
	return cfg
}

// pingTimeout bounds the check that the brokers answer.
const pingTimeout = 5 * time.Second

// connect returns an application on cfg once a broker answered; an
// unreachable address fails within pingTimeout, naming it.
func connect(ctx context.Context, cfg core.Config) (*core.Application, error) {
	if cfg.DialTimeout == 0 || cfg.DialTimeout > pingTimeout {
		cfg.DialTimeout = pingTimeout
	}
	app, err := core.New(cfg)
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	if err := app.Ping(pctx); err != nil {
		closeApp(app)
		return nil, err
	}
	return app, nil
}

func closeApp(app *core.Application) error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return app.Close(ctx)
}

// defaultBrokerPort is where the embedded broker listens by default, and
// where publish looks for a broker: Kafka's own default.
const defaultBrokerPort = 9092

// startBroker starts the embedded broker on 127.0.0.1:port (0: a free
// port) and says where it listens.
func startBroker(port int, dataDir string, partitions int, std *stdio) (*kafkaesktest.Broker, error) {
	return startBrokerWith(kafkaesktest.Options{Port: port, DataDir: dataDir, Partitions: partitions}, std)
}

// startBrokerWith starts the embedded broker o describes and says where
// it listens.
func startBrokerWith(o kafkaesktest.Options, std *stdio) (*kafkaesktest.Broker, error) {
	if o.DataDir != "" {
		if err := os.MkdirAll(o.DataDir, 0o755); err != nil {
			return nil, fmt.Errorf("data directory: %w", err)
		}
	}
	b, err := kafkaesktest.Start(&o)
	if err != nil {
		return nil, fmt.Errorf("embedded broker: %w (is another broker running there?)", err)
	}
	fmt.Fprintf(std.err, "kafkaesk: embedded broker listening on %s\n", b.Addr())
	return b, nil
}

// embeddedBrokerFlags are the flags of the broker that collect and tail
// start themselves when no --kafka-servers is given.
type embeddedBrokerFlags struct {
	port    int
	dataDir string
}

func addEmbeddedBrokerFlags(fs *flag.FlagSet) *embeddedBrokerFlags {
	e := &embeddedBrokerFlags{}
	fs.IntVar(&e.port, "broker-port", defaultBrokerPort, "without --kafka-servers: the embedded broker's port on 127.0.0.1")
	fs.StringVar(&e.dataDir, "broker-data-dir", "", "without --kafka-servers: keep the embedded broker's data in this directory")
	return e
}

// startUnlessGiven starts the embedded broker and points cfg at it,
// unless --kafka-servers was given. stop closes the broker it started.
func (e *embeddedBrokerFlags) startUnlessGiven(kf *kafkaFlags, cfg *core.Config, std *stdio) (stop func(), err error) {
	if kf.brokersGiven() {
		return func() {}, nil
	}
	b, err := startBroker(e.port, e.dataDir, 0, std)
	if err != nil {
		return nil, fmt.Errorf("%w; give --kafka-servers to use it, or another --broker-port", err)
	}
	cfg.Brokers = b.Brokers()
	return func() { b.Close() }, nil
}
