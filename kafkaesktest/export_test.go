package kafkaesktest

import "github.com/twmb/franz-go/pkg/kfake"

// Cluster returns the kfake cluster, for the package's own tests of its
// controls.
func (b *Broker) Cluster() *kfake.Cluster { return b.current() }
