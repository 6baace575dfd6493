package kafkaesktest

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The environment variables that point the failover tests at a real
// three-node cluster, as KAFKA_NODES=3 scripts/kafka-local start makes
// it: its bootstrap list, and the KAFKA_LOCAL_DIR its nodes are
// controlled through (scripts/kafka-local kill-node, start-node).
const (
	EnvClusterBrokers  = "KAFKA_CLUSTER_BROKERS"
	EnvClusterLocalDir = "KAFKA_CLUSTER_LOCAL_DIR"
)

// Cluster is a Kafka cluster of three nodes whose nodes a test can stop
// and start again: a real one (KAFKA_CLUSTER_BROKERS, nodes 1 to 3, each
// a JVM that Kill ends with SIGKILL), or an embedded one (kfake, nodes 0
// to 2, where a stopped node leaves the cluster and its partitions'
// leadership moves, as a real cluster's controller moves it). Its
// methods are safe for concurrent use.
type Cluster struct {
	real    bool
	brokers []string
	nodes   []int // ids, in order

	script, localDir string // real

	mu    sync.Mutex
	fake  *kfake.Cluster // embedded
	ports map[int]int    // embedded: node id → port
	down  map[int]bool
}

// NewCluster returns the real cluster of KAFKA_CLUSTER_BROKERS when it
// is set, and otherwise starts an embedded three-node cluster whose
// brokers configure default.replication.factor 3 and
// min.insync.replicas 2, as the real one; it is closed when the test
// ends, and a real cluster's stopped nodes are started again.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	if env := os.Getenv(EnvClusterBrokers); env != "" {
		c := &Cluster{real: true, brokers: strings.Split(env, ","), nodes: []int{1, 2, 3}, down: map[int]bool{},
			localDir: os.Getenv(EnvClusterLocalDir), script: repoScript(t)}
		if c.localDir == "" {
			t.Fatalf("kafkaesktest: %s is set but %s is not", EnvClusterBrokers, EnvClusterLocalDir)
		}
		t.Cleanup(func() {
			for _, n := range c.nodes {
				if c.isDown(n) {
					if err := c.Start(n); err != nil {
						t.Errorf("kafkaesktest: start node %d again: %v", n, err)
					}
				}
			}
		})
		return c
	}
	fake, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.AllowAutoTopicCreation(),
		kfake.BrokerConfigs(map[string]string{"default.replication.factor": "3", "min.insync.replicas": "2"}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	c := &Cluster{fake: fake, ports: map[int]int{}, down: map[int]bool{}}
	for i, addr := range fake.ListenAddrs() {
		c.brokers = append(c.brokers, addr)
		c.nodes = append(c.nodes, i)
		_, port, _ := strings.Cut(addr, ":")
		c.ports[i], _ = strconv.Atoi(port)
	}
	return c
}

// repoScript finds scripts/kafka-local from this file's directory.
func repoScript(t testing.TB) string {
	_, file, _, _ := runtime.Caller(0)
	s := filepath.Join(filepath.Dir(file), "..", "scripts", "kafka-local")
	if _, err := os.Stat(s); err != nil {
		t.Fatalf("kafkaesktest: the real cluster's nodes are controlled with %s: %v", s, err)
	}
	return s
}

// Real reports whether the cluster is the real one of
// KAFKA_CLUSTER_BROKERS.
func (c *Cluster) Real() bool { return c.real }

// Brokers returns the cluster's bootstrap list: every node.
func (c *Cluster) Brokers() []string { return c.brokers }

// Nodes returns the nodes' ids.
func (c *Cluster) Nodes() []int { return c.nodes }

func (c *Cluster) isDown(n int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.down[n]
}

// CanStop reports whether node n can be stopped: any node of a real
// cluster (its controller quorum elects another), every node but the
// controller (the last) of an embedded one, whose controller is fixed.
func (c *Cluster) CanStop(n int) bool {
	return c.real || n != c.nodes[len(c.nodes)-1]
}

// Kill stops node n at once: SIGKILL on a real cluster.
func (c *Cluster) Kill(n int) error { return c.stop(n, "kill-node") }

// Stop stops node n gracefully (SIGTERM) on a real cluster; Kill's
// equivalent on an embedded one.
func (c *Cluster) Stop(n int) error { return c.stop(n, "stop-node") }

func (c *Cluster) stop(n int, how string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down[n] {
		return fmt.Errorf("kafkaesktest: node %d is down already", n)
	}
	if !c.CanStop(n) {
		return fmt.Errorf("kafkaesktest: node %d is the embedded cluster's controller, which cannot be stopped", n)
	}
	if c.real {
		if err := c.run(how, n); err != nil {
			return err
		}
	} else if err := c.fake.RemoveNode(int32(n)); err != nil {
		return fmt.Errorf("kafkaesktest: remove node %d: %w", n, err)
	}
	c.down[n] = true
	return nil
}

// Start starts node n again, on its data and port, and returns once it
// serves.
func (c *Cluster) Start(n int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.down[n] {
		return fmt.Errorf("kafkaesktest: node %d is up already", n)
	}
	if c.real {
		if err := c.run("start-node", n); err != nil {
			return err
		}
	} else if _, _, err := c.fake.AddNode(int32(n), c.ports[n]); err != nil {
		return fmt.Errorf("kafkaesktest: add node %d on port %d: %w", n, c.ports[n], err)
	}
	c.down[n] = false
	return nil
}

// run runs scripts/kafka-local cmd n on the real cluster.
func (c *Cluster) run(cmd string, n int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	x := exec.CommandContext(ctx, c.script, cmd, strconv.Itoa(n))
	x.Env = append(os.Environ(), "KAFKA_LOCAL_DIR="+c.localDir)
	var out bytes.Buffer
	x.Stdout, x.Stderr = &out, &out
	if err := x.Run(); err != nil {
		return fmt.Errorf("kafkaesktest: %s %s %d: %w\n%s", c.script, cmd, n, err, out.String())
	}
	return nil
}

// Leader returns the node that leads topic's partition now, from a
// metadata request; -1 when it has none.
func (c *Cluster) Leader(ctx context.Context, topic string, partition int) (int, error) {
	meta, err := c.metadata(ctx, topic)
	if err != nil {
		return -1, err
	}
	for _, t := range meta.Topics {
		for _, p := range t.Partitions {
			if int(p.Partition) == partition {
				return int(p.Leader), nil
			}
		}
	}
	return -1, fmt.Errorf("kafkaesktest: no partition %d of %s in the metadata", partition, topic)
}

// WaitBrokers waits until the metadata of every node up lists n
// brokers: on a real cluster a killed node stays in it until its
// session times out, and each node learns of it on its own.
func (c *Cluster) WaitBrokers(ctx context.Context, n int) error {
	for {
		counts, err := c.brokerCounts(ctx)
		if err == nil && !slices.ContainsFunc(counts, func(k int) bool { return k != n }) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kafkaesktest: the nodes up list %v brokers, not %d each: %w", counts, n, cmp.Or(err, ctx.Err()))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// brokerCounts asks each node up how many brokers its metadata lists.
func (c *Cluster) brokerCounts(ctx context.Context) ([]int, error) {
	var counts []int
	for i, addr := range c.brokers {
		if c.isDown(c.nodes[i]) {
			continue
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
		if err != nil {
			return counts, err
		}
		req := kmsg.NewPtrMetadataRequest()
		req.Topics = []kmsg.MetadataRequestTopic{}
		resp, err := cl.SeedBrokers()[0].RetriableRequest(ctx, req)
		cl.Close()
		if err != nil {
			return counts, err
		}
		counts = append(counts, len(resp.(*kmsg.MetadataResponse).Brokers))
	}
	return counts, nil
}

// Replicas returns the number of replicas of each of topic's partitions.
func (c *Cluster) Replicas(ctx context.Context, topic string) ([]int, error) {
	meta, err := c.metadata(ctx, topic)
	if err != nil {
		return nil, err
	}
	var out []int
	for _, t := range meta.Topics {
		for _, p := range t.Partitions {
			out = append(out, len(p.Replicas))
		}
	}
	return out, nil
}

// metadata asks the nodes that are up for topic's metadata.
func (c *Cluster) metadata(ctx context.Context, topic string) (*kmsg.MetadataResponse, error) {
	var seeds []string
	c.mu.Lock()
	for i, b := range c.brokers {
		if !c.down[c.nodes[i]] {
			seeds = append(seeds, b)
		}
	}
	c.mu.Unlock()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = []kmsg.MetadataRequestTopic{}
	if topic != "" {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
	}
	return req.RequestWith(ctx, cl)
}
