// Command kafkaesk is the kafkaesk tool: a log collector daemon, a
// stream tail, a publisher and an embedded broker for development.
//
//	kafkaesk collect --pattern 'logs.*' --group collectors --output file:/var/log/kafkaesk/events.jsonl
//	kafkaesk tail 'logs.*' --from-beginning
//	echo '{"message":"hi","level":20}' | kafkaesk publish --stream logs.cli --schema PydanticLogModel:1
//	kafkaesk broker --port 9092 --data-dir /tmp/kafkaesk
//
// Every command takes the kafkaesk worker's flags (--kafka-servers,
// --kafka-settings, --topic-prefix, --replication-factor) and their
// KAFKAESK_* environment variables. Without --kafka-servers, collect and
// tail start an embedded broker on 127.0.0.1:9092 and say so; publish
// connects to 127.0.0.1:9092.
//
// Exit codes: 0 on success and after a stop by SIGINT or SIGTERM, 1 on a
// failure, 2 on a usage error (the message names the flag).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// command is one subcommand.
type command struct {
	name     string
	synopsis string // the arguments, after "kafkaesk NAME"
	summary  string // one line for the command list
	run      func(ctx context.Context, std *stdio, args []string) error
}

var commands = []command{
	{"collect", collectSynopsis, "consume log streams and write their events to outputs (the daemon)", runCollect},
	{"tail", tailSynopsis, "print the messages of streams, like kcat -C", runTail},
	{"publish", publishSynopsis, "publish JSON documents to a stream, enveloped and validated", runPublish},
	{"bench", benchSynopsis, "load-test the log pipeline: throughput, caller latency, drops", runBench},
	{"broker", brokerSynopsis, "run an embedded single-node Kafka broker for development", runBroker},
	{"version", "", "print the version", runVersion},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], &stdio{in: os.Stdin, out: os.Stdout, err: os.Stderr})
	stop()
	os.Exit(code)
}

// run runs the command line args and returns the exit code.
func run(ctx context.Context, args []string, std *stdio) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		if len(args) > 1 {
			if c := lookup(args[1]); c != nil {
				return run(ctx, []string{c.name, "--help"}, std)
			}
			fmt.Fprintf(std.err, "kafkaesk: unknown command %q\n\n", args[1])
			usage(std.err)
			return 2
		}
		usage(std.err)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c := lookup(args[0])
	if c == nil {
		fmt.Fprintf(std.err, "kafkaesk: unknown command %q\n\n", args[0])
		usage(std.err)
		return 2
	}
	err := c.run(ctx, std, args[1:])
	var uerr *usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errHelp):
		return 0
	case errors.As(err, &uerr):
		fmt.Fprintf(std.err, "kafkaesk %s: %v\nRun 'kafkaesk %s --help' for usage.\n", c.name, err, c.name)
		return 2
	default:
		// Errors from the library say "kafkaesk: ..." already.
		fmt.Fprintf(std.err, "kafkaesk %s: %s\n", c.name, strings.TrimPrefix(err.Error(), "kafkaesk: "))
		return 1
	}
}

func lookup(name string) *command {
	for i := range commands {
		if commands[i].name == name {
			return &commands[i]
		}
	}
	return nil
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: kafkaesk COMMAND [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'kafkaesk COMMAND --help' for a command's flags.")
}
