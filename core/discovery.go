package core

import (
	"context"
	"fmt"
)

// listTopics returns the names of every topic in the cluster, asking a
// broker directly (no cached metadata), so that a new topic is seen at the
// next poll.
func (a *Application) listTopics(ctx context.Context) ([]string, error) {
	dialer, err := a.cfg.Dialer()
	if err != nil {
		return nil, err
	}
	var lastErr error
	for _, broker := range a.cfg.Brokers {
		conn, err := dialer.DialContext(ctx, "tcp", broker)
		if err != nil {
			lastErr = err
			continue
		}
		if dl, ok := ctx.Deadline(); ok {
			_ = conn.SetDeadline(dl)
		}
		partitions, err := conn.ReadPartitions()
		conn.Close()
		if err != nil {
			lastErr = fmt.Errorf("read metadata from %s: %w", broker, err)
			continue
		}
		seen := map[string]bool{}
		var topics []string
		for _, p := range partitions {
			if !seen[p.Topic] {
				seen[p.Topic] = true
				topics = append(topics, p.Topic)
			}
		}
		return topics, nil
	}
	return nil, fmt.Errorf("list topics: no broker of %v answered: %w", a.cfg.Brokers, lastErr)
}
