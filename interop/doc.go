// Package interop holds no code: its tests prove that this project and
// Python kafkaesk (github.com/onna/kafkaesk 0.8.7, on aiokafka 0.14.0
// and kafka-python 2.3.3) work together, both ways, on one cluster.
//
// # What runs
//
// TestMain makes (once, cached) a virtual environment with the pinned
// Python packages by running scripts/python-env, and builds the kafkaesk
// command. Each test then runs small Python programs from interop/python
// with that environment's python, against the brokers of
// kafkaesktest.Brokers (the embedded broker, or the cluster in
// KAFKA_BROKERS), under a topic prefix of its own. The Python programs
// print JSON lines that the Go test checks field by field:
//
//   - events both ways: a pydantic model published by app.publish is
//     decoded by core.Subscribe into a struct, and a struct published by
//     Go is decoded by @app.subscribe into a pydantic model, every field
//     equal and the message bytes those kafkaesk writes for the same value;
//   - logs both ways: sloghandler's events read as PydanticLogModel, and
//     PydanticKafkaeskHandler's read by record.DecodeEvent and by the
//     kafkaesk collect command;
//   - keys that pick the same partitions, topics created by either side
//     that suit the other, and a consumer group of Python and Go workers
//     that share the partitions and handle every message once;
//   - the four problems of issue 14, each as its own regression test.
//
// # Running
//
//	go test ./interop                              # embedded broker, $KAFKAESK_CLIENT or kafka-go
//	KAFKAESK_CLIENT=franz-go go test ./interop     # the other client
//	KAFKA_BROKERS=127.0.0.1:19092 go test ./interop # a real cluster (scripts/kafka-local)
//
// A missing python3, venv module or pip fails the package (scripts/python-env
// says what is missing); nothing is skipped.
package interop
