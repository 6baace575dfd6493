package sloghandler_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kafkaesk-go/kafkaesk/core"
	"github.com/kafkaesk-go/kafkaesk/kafkaesktest"
	"github.com/kafkaesk-go/kafkaesk/record"
	"github.com/kafkaesk-go/kafkaesk/sloghandler"
	"github.com/kafkaesk-go/kafkaesk/streamhandler"
)

// UserLog is a log model: its fields are merged into the event.
type UserLog struct {
	record.Model
	User string `json:"user"`
	Plan string `json:"plan"`
}

// One logger to the console and to Kafka: slog.NewMultiHandler sends each
// record to both handlers.
func Example() {
	broker, err := kafkaesktest.Start(nil)
	if err != nil {
		panic(err)
	}
	defer broker.Close()

	kafkaHandler, err := sloghandler.Open(core.Config{Brokers: broker.Brokers(), TopicPrefix: "example."}, "logs", &sloghandler.Options{Logger: "checkout"})
	if err != nil {
		panic(err)
	}
	console := streamhandler.New(os.Stdout, &streamhandler.Options{
		Color:       streamhandler.ColorNever,
		ReplaceAttr: dropTime, // for a stable example
	})
	logger := slog.New(slog.NewMultiHandler(console, kafkaHandler))

	logger.Info("signed in", "attempt", 2, "user", UserLog{User: "ana", Plan: "pro"})

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := kafkaHandler.Close(ctx); err != nil { // delivers what is queued
		panic(err)
	}
	fmt.Printf("%+v\n", kafkaHandler.Stats())

	// What a consumer (Python kafkaesk, or the collector) reads back.
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: broker.Brokers(), Topic: "example.logs", Partition: partitionOf(broker), MaxWait: 100 * time.Millisecond})
	defer r.Close()
	m, err := r.ReadMessage(ctx)
	if err != nil {
		panic(err)
	}
	e, err := record.DecodeEvent(m.Value)
	if err != nil {
		panic(err)
	}
	fmt.Println(e.Schema, e.Logger, e.Severity, e.Level, e.Message, string(e.Fields["attempt"]), string(e.Fields["user"]), string(e.Fields["plan"]))
	// Output:
	// INF signed in: user=ana, plan=pro attempt=2
	// {Enqueued:1 Published:1 Dropped:0 Failed:0 Queued:0}
	// PydanticLogModel:1 checkout INFO 20 signed in 2 "ana" "pro"
}

func dropTime(groups []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey && len(groups) == 0 {
		return slog.Attr{}
	}
	return a
}

// partitionOf finds the one partition of example.logs that holds data
// (events are keyed by hostname, so all land on one).
func partitionOf(broker *kafkaesktest.Broker) int {
	conn, err := kafka.Dial("tcp", broker.Addr())
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	parts, err := conn.ReadPartitions("example.logs")
	if err != nil {
		panic(err)
	}
	for _, p := range parts {
		pc, err := kafka.DialLeader(context.Background(), "tcp", broker.Addr(), "example.logs", p.ID)
		if err != nil {
			panic(err)
		}
		last, _ := pc.ReadLastOffset()
		pc.Close()
		if last > 0 {
			return p.ID
		}
	}
	return 0
}
