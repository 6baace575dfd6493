// Package core is kafkaesk for Go: schema-enveloped events published to,
// and consumed from, Kafka, compatible byte for byte with the Python
// kafkaesk library (github.com/onna/kafkaesk).
//
// # The envelope
//
// Every message value is a compact JSON object, schema first:
//
//	{"schema":"ContentEdited:2","data":{"content_id":"c-42","editor":"ana"}}
//
// "schema" is the id and version of the data's schema; "data" is the event.
// kafkaesk adds no headers of its own; keys are optional bytes and pick the
// partition with murmur2, as the Java client and kafkaesk do. Python
// services publishing with kafkaesk and Go services publishing with this
// package read each other's messages.
//
// # Schemas
//
// A schema is registered from a Go type with [Register]. Its id defaults to
// the type name and its version to 1; a retention sets retention.ms of the
// topics created for it, and streams listed are created at [Application.Start]:
//
//	core.MustRegister[ContentEdited](app, &core.SchemaOptions{Version: 2, Retention: 30 * 24 * time.Hour})
//
// The JSON Schema is generated from the type (github.com/invopop/jsonschema,
// so `jsonschema:"minimum=1"` style tags add constraints) and compiled once
// (github.com/santhosh-tekuri/jsonschema). Publish validates data against
// it before anything is sent. A type whose schema says no more than the Go
// type itself (no constraint tags, no custom marshalers) always produces
// valid data, and Publish skips the validator for it; see [Schema.Validate]
// for validating JSON from elsewhere.
//
// An unregistered type is published as "TypeName:1", unvalidated, as
// kafkaesk does. Schemas and start/stop hooks can be declared on a
// [Router] by a package and mounted with [Application.Mount].
//
// # Publishing
//
// [Application.Publish] waits for the broker's acknowledgement;
// [Application.PublishAsync] returns once the message is handed to the
// producer and reports the outcome to a callback. Both are safe for
// concurrent use, and concurrent publishers share producer batches.
// [Application.RawPublish] sends bytes as they are, as kafkaesk's
// raw_publish. [Application.Flush] waits for everything in flight and
// [Application.Close] flushes and releases everything.
//
// Topics are named prefix + stream, by plain concatenation. A missing topic
// is created on the first Publish to its stream with [Config.Partitions]
// (default 7) and [Config.ReplicationFactor] (default min(3, brokers));
// existing topics are never altered.
//
// # Subscribing
//
// [Subscribe] registers a typed handler for the streams matching a pattern,
// in a consumer group; [Application.Run] consumes until its context ends:
//
//	core.Subscribe(app, "content.*", "indexer", func(ctx context.Context, m *core.Message[ContentEdited]) error {
//		return index(ctx, m.Data)
//	}, &core.SubscribeOptions{Concurrency: 8})
//	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
//	defer stop()
//	err := app.Run(ctx)
//
// Patterns follow kafkaesk: the topic prefix is prepended; "*" matches
// fnmatch-style across dots; a pattern without "*" is one exact stream.
// Topics created later that match are picked up within
// SubscribeOptions.DiscoveryInterval; subscribers never create topics. A
// new group starts from the earliest offset.
//
// What a handler receives follows its type parameter: a struct decoded from
// the envelope's data (validated when its type is registered), the whole
// [Envelope], the raw []byte value, or the [Record]. Undecodable messages
// are skipped, counted and logged; a handler may skip with [ErrSkip].
//
// Delivery is at least once, and nothing is committed that was not
// handled: each partition is handled in offset order, up to Concurrency
// messages at once across partitions, and the offset after the last
// finished message is committed every CommitInterval, when partitions are
// revoked, and when Run stops (kafkaesk commits nothing on shutdown). A
// handler error follows the subscription's [ErrorPolicy]: fail (the
// default, as kafkaesk), retry with backoff, skip, or dead-letter; a panic
// is an error. [Message.Forward] republishes a record with its headers, as
// kafkaesk's subscriber.publish.
//
// # Reading without a group
//
// [Application.Read] reads a stream's partitions directly, as kcat and
// kafka-python's assign and seek do: from [Earliest], [Latest],
// [AtOffset] or [AtTime], to the end as of the start
// (ReadOptions.UntilEnd) or until its context ends, committing nothing:
//
//	err := app.Read(ctx, "orders", &core.ReadOptions{From: core.AtTime(since), UntilEnd: true},
//		func(ctx context.Context, rec *core.Record) error {
//			return audit(rec)
//		})
//
// [Application.Streams] lists the streams matching a pattern, and
// [Application.StreamOffsets] the bounds of a stream's partitions.
//
// # Configuration
//
// [Config] has a documented default for every zero field. [AddFlags] gives a
// program the kafkaesk worker's flags (--kafka-servers, --kafka-settings,
// --topic-prefix, --replication-factor) and their KAFKAESK_* environment
// variables; [Config.ApplySettings] reads the --kafka-settings JSON, and an
// unknown key is an error naming it.
//
// # Tracing
//
// Messages carry OpenTelemetry trace context in their headers, as Python
// kafkaesk carries OpenTracing's. A publish within a trace (its ctx holds
// a valid span context, or baggage) writes it through
// [Config.Propagator] (default: the global propagator, which the program
// sets):
//
//	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(
//		propagation.TraceContext{}, propagation.Baggage{}))
//
// A header the caller set is never replaced, as kafkaesk never replaces
// one; traceparent and tracestate go together, so a caller's traceparent
// keeps its own tracestate. [Message.Forward] and dead letters keep the
// consumed record's, and [Message.Publish] puts the handler's in its
// place. A handler's ctx holds what the message carries, so the handler,
// its logs (record, sloghandler and streamhandler write trace_id and
// span_id) and what it publishes continue the producer's trace, with or
// without a tracer.
//
// With a TracerProvider ([Config.TracerProvider], default the global
// one once the program sets it) the application makes spans, following
// OpenTelemetry's messaging conventions (semconv v1.43.0):
//
//   - "send <topic>", kind PRODUCER, for each message published within a
//     trace, a child of ctx's span, from the hand-over to the broker's
//     acknowledgement (an error status and error.type when it fails).
//     Its context is the one the message carries (the conventions'
//     creation context); when the caller set a traceparent, that one
//     stays, and the span links to it. A publish outside any trace
//     starts none, so that background publishers, the log pipeline among
//     them, never make a trace per message; TryProduce, without a
//     context, never does.
//   - "process <topic>", kind CONSUMER, around each handler call (each
//     retry is a call), a child of the context the message carries and
//     linked to it, as the conventions ask; an error status when the
//     handler fails (not for ErrSkip).
//
// Both have messaging.system "kafka", messaging.destination.name (the
// topic, prefix included), messaging.operation.type and .name ("send",
// "process"), messaging.destination.partition.id and
// messaging.kafka.offset (on send once acknowledged),
// messaging.message.body.size, messaging.kafka.message.key when the key
// is UTF-8 text, and on process messaging.consumer.group.name.
//
// Without a provider, with the global one unset, or with a
// noop.TracerProvider, no span is made and nothing is paid for them; a
// publish outside any trace adds no header and allocates nothing.
//
// # Errors
//
// Data that fails its schema is a *[ValidationError] naming each field; a
// topic that cannot be created is a *[TopicError]; a message that cannot be
// written is a *[PublishError]; both name the topic. An unreachable broker
// is an error naming its address once the context's deadline or
// [Config.RequestTimeout] passes, never a hang.
package core
