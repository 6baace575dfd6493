package sloghandler_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

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
	reader, err := core.New(core.Config{Brokers: broker.Brokers(), TopicPrefix: "example."})
	if err != nil {
		panic(err)
	}
	defer reader.Close(ctx)
	err = reader.Read(ctx, "logs", &core.ReadOptions{UntilEnd: true}, func(_ context.Context, m *core.Record) error {
		e, err := record.DecodeEvent(m.Value)
		if err != nil {
			return err
		}
		fmt.Println(e.Schema, e.Logger, e.Severity, e.Level, e.Message, string(e.Fields["attempt"]), string(e.Fields["user"]), string(e.Fields["plan"]))
		return nil
	})
	if err != nil {
		panic(err)
	}
	// Output:
	// INF signed in: user=ana, plan=pro attempt=2
	// {Enqueued:1 Published:1 Spooled:0 Dropped:0 Failed:0 Unknown:0 Queued:0}
	// PydanticLogModel:1 checkout INFO 20 signed in 2 "ana" "pro"
}

func dropTime(groups []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey && len(groups) == 0 {
		return slog.Attr{}
	}
	return a
}
