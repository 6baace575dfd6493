package main

import (
	"context"
	"fmt"
)

const brokerSynopsis = "[--port 9092] [--data-dir DIR] [--partitions N]"

// runBroker runs the embedded broker until ctx ends (SIGINT or SIGTERM),
// then closes it: a stop is a success.
func runBroker(ctx context.Context, std *stdio, args []string) error {
	fs := newFlagSet("broker", brokerSynopsis, std)
	port := fs.Int("port", defaultBrokerPort, "port to listen on, on 127.0.0.1; 0 picks a free port (printed at start)")
	dataDir := fs.String("data-dir", "", "keep topics and offsets in this directory, so that they survive a restart (default: in memory)")
	partitions := fs.Int("partitions", 1, "partitions of the topics the broker creates by itself, for clients that produce to a topic that does not exist\n(kafkaesk's own publishers create their topics with num_partitions of --kafka-settings, default 7)")
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(rest) > 0:
		return usagef("unexpected argument %q: broker takes only flags", rest[0])
	case *port < 0 || *port > 65535:
		return usagef("flag --port: %d is not a port from 0 to 65535", *port)
	case *partitions < 1:
		return usagef("flag --partitions: %d is less than allowed 1", *partitions)
	}
	b, err := startBroker(*port, *dataDir, *partitions, std)
	if err != nil {
		return fmt.Errorf("%w; give another --port", err)
	}
	<-ctx.Done()
	b.Close()
	fmt.Fprintln(std.err, "kafkaesk: embedded broker stopped")
	return nil
}
