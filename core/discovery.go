package core

import (
	"context"
	"fmt"
	"strings"
)

// listTopics returns the names of every topic in the cluster, asking a
// broker directly (no cached metadata), so that a new topic is seen at the
// next poll.
func (a *Application) listTopics(ctx context.Context) ([]string, error) {
	return a.driver.listTopics(ctx)
}

// Ping checks that the cluster answers: it asks each broker in turn for
// metadata and returns nil at the first answer. Otherwise the error names
// every broker address and why it did not answer. Each dial is bounded by
// Config.DialTimeout and the whole call by ctx and Config.RequestTimeout,
// so a wrong address fails in seconds rather than hanging; commands call it
// before they start.
func (a *Application) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.RequestTimeout)
	defer cancel()
	if err := a.driver.ping(ctx); err != nil {
		return fmt.Errorf("kafkaesk: no Kafka broker reachable at %s: %w", strings.Join(a.cfg.Brokers, ","), err)
	}
	return nil
}
