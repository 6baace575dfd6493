package core

import (
	"context"
)

// listTopics returns the names of every topic in the cluster, asking a
// broker directly (no cached metadata), so that a new topic is seen at the
// next poll.
func (a *Application) listTopics(ctx context.Context) ([]string, error) {
	return a.driver.listTopics(ctx)
}
