package core

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// listTopics returns the names of every topic in the cluster, asking a
// broker directly (no cached metadata), so that a new topic is seen at the
// next poll.
func (a *Application) listTopics(ctx context.Context) ([]string, error) {
	dialer, err := a.cfg.dialer()
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

// Ping checks that the cluster answers: it asks each broker in turn for
// metadata and returns nil at the first answer. Otherwise the error names
// every broker address and why it did not answer. Each dial is bounded by
// Config.DialTimeout and the whole call by ctx and Config.RequestTimeout,
// so a wrong address fails in seconds rather than hanging; commands call it
// before they start.
func (a *Application) Ping(ctx context.Context) error {
	dialer, err := a.cfg.dialer()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, a.cfg.RequestTimeout)
	defer cancel()
	var errs []error
	for _, broker := range a.cfg.Brokers {
		conn, err := dialer.DialContext(ctx, "tcp", broker)
		if err != nil {
			errs = append(errs, err) // kafka-go's names the address
			continue
		}
		if dl, ok := ctx.Deadline(); ok {
			_ = conn.SetDeadline(dl)
		}
		_, err = conn.Brokers()
		conn.Close()
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("%s: read metadata: %w", broker, err))
	}
	return fmt.Errorf("kafkaesk: no Kafka broker reachable at %s: %w", strings.Join(a.cfg.Brokers, ","), errors.Join(errs...))
}
