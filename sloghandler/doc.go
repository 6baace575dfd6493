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
// an event already settled (or, with none to reuse, into a pooled scratch
// buffer, copied out once), and hands it to the application's producer
// with core's TryProduce, which never waits. In the steady state it
// allocates nothing of its own. It never calls Kafka. When the queue
// (QueueSize events not yet settled) or the producer's buffer is full the
// event is dropped and counted (the default, as kafkaesk), or with
// [Block] the caller waits at most BlockTimeout. A warning about drops
// goes to stderr at most once every 30 seconds.
//
// # Delivery
//
// Delivery is the core producer's, as for every other publisher: it
// batches, creates the stream's topic on first use, retries what failed
// retriably (Kafka down, a leader that moved, a timeout) with backoff
// until the application's DeliveryTimeout, splits a batch the broker
// refuses as too large so that only the culprit fails, and reports each
// event's outcome once. Events are keyed by the hostname by default, so
// one process's events stay on one partition, in order; after a failure,
// the batches the client had queued behind the failed one may be written
// before its retry (the default client has no idempotent producer). [Handler.Flush] waits for the events handed
// over before the call; [Handler.Close] delivers what is queued within
// its context's deadline; [Handler.Stats] accounts for every event:
// Enqueued = Published + Dropped + Failed + Unknown + Queued, where
// Failed events are not in the topic and Unknown ones (a request carried
// them when they were given up on) may be.
//
// # Console and Kafka together
//
// Send one logger to both this handler and the console handler of
// package streamhandler with slog.NewMultiHandler.
package sloghandler
