// Package sloghandler is a slog.Handler that ships structured logs to
// Kafka as kafkaesk log events, so that Python services using kafkaesk and
// Go services read each other's logs, without ever slowing or blocking the
// service that logs.
//
//	h, err := sloghandler.Open(core.Config{Brokers: []string{"kafka:9092"}}, "logs.checkout", nil)
//	if err != nil {
//		return err
//	}
//	defer h.Close(context.Background())
//	slog.SetDefault(slog.New(h))
//
// # What a call costs
//
// Handle encodes the event on the caller's goroutine (record.Encoder: the
// PydanticLogModel:1 envelope, with log models merged) into the buffer of
// an event Kafka has acknowledged (or, with none to reuse, into a pooled
// scratch buffer, copied out once), and hands it to a bounded queue. In
// the steady state it allocates nothing of its own. It never calls Kafka. When the queue is full the event is dropped and counted (the
// default, as kafkaesk), or with [Block] the caller waits at most
// BlockTimeout. A warning about drops goes to stderr at most once every
// 30 seconds.
//
// # Delivery
//
// One worker goroutine hands the queue to the core application's producer
// in batches (same topic prefix and topic creation as
// core.Application.Publish) as fast as events come, without waiting for
// one batch's acknowledgement before handing over the next. An event
// holds its place in the queue until Kafka acknowledges it, so QueueSize
// bounds the events in memory wherever they are. Events that fail (Kafka
// down past the producer's own retries) are published again, before newer
// ones, with backoff, until they are delivered or Close gives up. Events
// are keyed by the hostname by default, so one process's events stay on
// one partition, in order; a retry after a failure may land some of them
// after later ones. [Handler.Flush] and [Handler.Close]
// deliver what is queued within their context's deadline; [Handler.Stats]
// accounts for every event: Enqueued = Published + Dropped + Failed + Queued.
//
// # Console and Kafka together
//
// Send one logger to both this handler and the console handler of
// package streamhandler with slog.NewMultiHandler.
package sloghandler
