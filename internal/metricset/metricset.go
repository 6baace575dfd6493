// Package metricset holds what the project's packages share in
// registering Prometheus metrics: collectors that several applications
// or handlers of one process register with the same registerer, as
// Python kafkaesk's metrics are process-wide.
package metricset

import (
	"errors"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Register registers c with reg, or returns the collector registered
// there already under the same description, so that every user of one
// registerer shares one collector.
func Register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, err
}

// Set reads metrics at scrape time from a set of live members
// (applications, handlers), with one collector per registerer, so that
// members sharing a registerer never export the same series twice:
// collect gets all of a registerer's members at once, and sums what they
// share. Its methods are safe for concurrent use.
type Set[T comparable] struct {
	descs   []*prometheus.Desc
	collect func(members []T, ch chan<- prometheus.Metric)

	mu    sync.Mutex
	byReg map[prometheus.Registerer]*members[T]
}

// New returns a Set whose collectors describe descs and collect with
// collect.
func New[T comparable](descs []*prometheus.Desc, collect func(members []T, ch chan<- prometheus.Metric)) *Set[T] {
	return &Set[T]{descs: descs, collect: collect, byReg: map[prometheus.Registerer]*members[T]{}}
}

// Add adds m to reg's members, registering reg's collector on first use.
// reg must be comparable (a *prometheus.Registry is).
func (s *Set[T]) Add(reg prometheus.Registerer, m T) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.byReg[reg]
	if c == nil {
		c = &members[T]{set: s, live: map[T]struct{}{}}
		if err := reg.Register(c); err != nil {
			return err
		}
		s.byReg[reg] = c
	}
	c.mu.Lock()
	c.live[m] = struct{}{}
	c.mu.Unlock()
	return nil
}

// Remove removes m from reg's members; the last one out unregisters the
// collector.
func (s *Set[T]) Remove(reg prometheus.Registerer, m T) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.byReg[reg]
	if c == nil {
		return
	}
	c.mu.Lock()
	delete(c.live, m)
	empty := len(c.live) == 0
	c.mu.Unlock()
	if empty {
		reg.Unregister(c)
		delete(s.byReg, reg)
	}
}

// members is the collector of one registerer.
type members[T comparable] struct {
	set  *Set[T]
	mu   sync.Mutex
	live map[T]struct{}
}

func (c *members[T]) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.set.descs {
		ch <- d
	}
}

func (c *members[T]) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	live := make([]T, 0, len(c.live))
	for m := range c.live {
		live = append(live, m)
	}
	c.mu.Unlock()
	c.set.collect(live, ch)
}
