package core

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// The Kafka clients core runs on, for Config.Client.
const (
	// ClientKafkaGo is github.com/segmentio/kafka-go: the default.
	ClientKafkaGo = "kafka-go"
	// ClientFranzGo is github.com/twmb/franz-go (kgo and kadm): the
	// idempotent producer, transactions, cooperative and KIP-848
	// consumer groups.
	ClientFranzGo = "franz-go"

	// EnvClient names the environment variable that picks the client of
	// every Application whose Config.Client is empty: a deployment can
	// switch clients without a code change, and `make test` runs the
	// whole suite on each.
	EnvClient = "KAFKAESK_CLIENT"
)

// driver is the seam between core and a Kafka client library. Everything
// users see, and everything core owns (the envelope, schemas, when topics
// are created, retries and the accounting of outcomes, subscriptions and
// their commits and error policies), sits above it; below it are only
// what a client library does: produce batches and report completions,
// fetch partitions, keep a group membership, commit, and the admin
// requests. Its shapes are taken from what both clients do well: the
// producer is handed batches and reports each record's outcome through
// a callback (kafka-go's Writer completion, franz-go's promise), a group
// reports assignments and revocations as they come (one generation at a
// time for kafka-go, incrementally for franz-go's cooperative and KIP-848
// protocols), and a partition is fetched one record at a time.
//
// An Application owns one driver, made by New from Config.Client and
// closed by Close. Its methods are safe for concurrent use.
type driver interface {
	// name is the client's, as in Config.Client.
	name() string

	// newProduceClient returns the application's produce client. It
	// creates the topics of the records it is handed through topics
	// before their first record, and reports each attempt's outcome
	// through complete.
	newProduceClient(topics *topicManager, complete completeFunc) (produceClient, error)

	// listTopics returns the name of every topic in the cluster, from a
	// broker's fresh answer (no cached metadata).
	listTopics(ctx context.Context) ([]string, error)
	// ping asks the brokers for metadata, one after another, and returns
	// nil at the first answer; the error names every broker that did not
	// answer, and why.
	ping(ctx context.Context) error
	// describeTopic returns topic's partitions, sorted (nil when the
	// topic does not exist), and the ids of the brokers in the metadata
	// (those up), sorted.
	describeTopic(ctx context.Context, topic string) (partitions []int, brokers []int, err error)
	// defaultReplicationFactor returns the default.replication.factor
	// that broker's configuration sets, or 0 when it is Kafka's default
	// (not configured).
	defaultReplicationFactor(ctx context.Context, broker int) (int, error)
	// createTopic creates a topic; one that exists already is not an
	// error. retention zero leaves the broker's default.
	createTopic(ctx context.Context, topic string, partitions, replicationFactor int, retention time.Duration) error
	// listOffsets returns the bounds of topic's partitions, and, when at
	// is not zero, the first offset at or after at.
	listOffsets(ctx context.Context, topic string, partitions []int, readCommitted bool, at time.Time) (map[int]offsetBounds, error)

	// newGroupMember returns a member of a consumer group; see groupMember.
	newGroupMember(spec groupSpec) (groupMember, error)
	// newPartitionSource returns fetchers of topic's partitions, each
	// starting at its offset in start, without a group (Application.Read).
	newPartitionSource(spec sourceSpec) (partitionSource, error)
	// newTransactor returns a transactional producer with transactional
	// id id, for Application.Transact; an error naming the client when
	// it has no transactions.
	newTransactor(id string) (transactor, error)

	// close releases what the driver holds (idle connections).
	close()
}

// newDriver returns the driver of cfg.Client (cfg has its defaults).
// Failures to connect are told to doc.
func newDriver(cfg *Config, doc *doctor) (driver, error) {
	dial := newAbortableDialer(cfg.DialTimeout)
	switch cfg.Client {
	case ClientFranzGo:
		return newFranzDriver(cfg, dial, doc)
	case ClientKafkaGo:
		return newKafkaGoDriver(cfg, dial)
	}
	return nil, fmt.Errorf("kafkaesk: Client %q is not one of %s, %s", cfg.Client, ClientKafkaGo, ClientFranzGo)
}

var (
	_ driver = (*kafkaGoDriver)(nil)
	_ driver = (*franzDriver)(nil)
)

// completeFunc reports the outcome of one attempt at recs: nil when the
// broker acknowledged them (with their Partition and Offset set), else
// an error that classify reads. It does not keep recs.
type completeFunc func(recs []*Record, err error)

// produceClient is the producer's client: see producer. Only the
// producer's sender calls send; abort and close are called by Close.
type produceClient interface {
	// send hands recs over. Each one's outcome is reported through the
	// completeFunc, once per attempt, on the client's goroutines; send
	// itself reports what it cannot hand over (a topic that cannot be
	// created, a record larger than BatchBytes) before it returns.
	send(recs []*Record)
	// abort makes everything the client still holds complete at once,
	// as a failure: ErrOutcomeUnknown for records a request may have
	// carried. Nothing is sent after it.
	abort()
	// close waits for the completions of everything handed over (at once
	// after abort) and releases the client.
	close() error
}

// txnProducer adds records to an open transaction.
type txnProducer interface {
	// produce hands rec to the open transaction. Its outcome counts when
	// the transaction ends: one that fails makes it abort. It fails only
	// when ctx has ended already; it waits while the client's buffer is
	// full (the transaction's records, bounded by MaxBufferedMessages).
	produce(ctx context.Context, rec *Record) error
	// flush sends what the transaction holds and waits for the acks.
	flush(ctx context.Context) error
}

// transactor is a transactional producer: one transaction at a time,
// begun, produced to, and ended by one caller.
type transactor interface {
	txnProducer
	// begin opens a transaction.
	begin() error
	// end sends what the transaction holds, then commits it when commit
	// is true and every record was delivered, else aborts it. It returns
	// nil only when the transaction committed.
	end(ctx context.Context, commit bool) error
	// close aborts an open transaction and releases the producer.
	close()
}

// offsetBounds are a partition's first offset and end offset (one past
// the last record: the high watermark, or the last stable offset when
// read committed), and the first offset at a time asked for; -1 for
// none.
type offsetBounds struct {
	first, end, atTime int64
}

// groupSpec describes a group member.
type groupSpec struct {
	group       string
	topics      []string
	startLatest bool // where a partition without a committed offset starts
	rebalance   Rebalance
	log         *slog.Logger

	// readCommitted fetches with the read_committed isolation level.
	readCommitted bool
	// transactionalID, when set, makes the member exactly once: its
	// client produces in transactions (see groupMember.txn) that also
	// commit the offsets of the records handled, read committed.
	transactionalID string

	// assigned is called when partitions are assigned to the member,
	// before any of their records is fetched. It must not block.
	assigned func(parts []assignedPartition)
	// revoked is called when partitions are taken from the member, by a
	// rebalance or because it leaves: it returns once their handlers
	// have finished and what finished is committed (through the
	// member's commit, which works until revoked returns). lost tells
	// that the member lost them without a rebalance (it was fenced or
	// its session expired): committing cannot succeed.
	revoked func(parts []topicPartition, lost bool)
}

// topicPartition names a partition.
type topicPartition struct {
	topic     string
	partition int
}

// assignedPartition is a partition assigned to a group member.
type assignedPartition struct {
	topicPartition
	// committed is the group's committed offset for it, where fetching
	// starts; -1 when not known (fetching starts at the committed
	// offset, or by the spec's startLatest when there is none).
	committed int64
	fetch     fetcher
}

// groupMember is one member of a consumer group.
type groupMember interface {
	// run joins the group and keeps the membership until ctx ends: it
	// calls the spec's assigned and revoked as the group rebalances, and
	// fetches the assigned partitions for their fetchers. When ctx ends it
	// revokes every partition still assigned, leaves the group and
	// returns nil; it returns an error only when it cannot run at all.
	run(ctx context.Context) error
	// commit commits offsets (the next offset to consume, per topic and
	// partition) for the member's current assignment. It blocks until the
	// coordinator answers, ctx ends, or RequestTimeout passes.
	commit(ctx context.Context, offsets map[string]map[int]int64) error
	// txn returns the producer of the member's open transaction, nil
	// unless the spec has a transactionalID. The member opens a
	// transaction before it hands out records, and ends it (committing
	// the offsets of every record handed out, once its handler is done,
	// the next fetch was asked for) before it fetches again: a record's
	// handler produces through txn while it runs.
	txn() txnProducer
}

// sourceSpec describes a read of partitions without a group.
type sourceSpec struct {
	topic         string
	start         map[int]int64 // partition → first offset to fetch
	readCommitted bool
	log           *slog.Logger
}

// partitionSource fetches partitions without a group.
type partitionSource interface {
	// fetcher returns partition's fetcher.
	fetcher(partition int) fetcher
	// close stops fetching; every goroutine of the source has ended when
	// it returns.
	close()
}

// fetcher fetches one partition, in offset order.
type fetcher interface {
	// next returns the partition's next record, waiting for one until
	// ctx ends (then it returns ctx's error). Fetch failures a client
	// recovers from (a broker restarting, a leader moving) are retried
	// inside; an error is one that retrying cannot mend. The record and
	// its slices are the caller's.
	next(ctx context.Context) (Record, error)
	// close releases the fetcher; next is not called after it.
	close()
}

// Rebalance selects a consumer group's rebalance protocol
// (Config.Rebalance).
type Rebalance string

// The rebalance protocols.
const (
	// RebalanceEager is the classic protocol with eager rebalancing: every
	// member gives up all its partitions at each rebalance, and the
	// range or round-robin assignor divides them again (compatible with
	// kafkaesk's aiokafka members). The default, and kafka-go's only one.
	RebalanceEager Rebalance = "eager"
	// RebalanceCooperative is the classic protocol with the
	// cooperative-sticky assignor (KIP-429): a rebalance moves only the
	// partitions that change owner. franz-go only.
	RebalanceCooperative Rebalance = "cooperative"
	// RebalanceConsumer is Kafka 4's consumer group protocol (KIP-848):
	// the broker assigns partitions, incrementally. franz-go only; needs
	// Kafka 4.0 or later.
	RebalanceConsumer Rebalance = "consumer"
)
