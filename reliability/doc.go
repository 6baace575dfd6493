// Package reliability holds the tests of kafkaesk on a replicated
// cluster whose nodes fail: topic creation with a node down, a stream's
// leader killed and restarted while a service logs and a group consumes,
// a node gone for good. They run on an embedded three-node cluster, and
// on a real one (KAFKA_NODES=3 scripts/kafka-local start) when
// KAFKA_CLUSTER_BROKERS is set, as .ci/run does after the main suite.
// The package has no code of its own.
package reliability
