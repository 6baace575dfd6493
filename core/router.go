package core

import (
	"context"
	"reflect"
	"slices"
	"sync"
)

// A Registrar accepts schema registrations and hooks: both *Router and
// *Application are Registrars.
type Registrar interface {
	registry() *Router
}

// Hook is a start or stop hook: kafkaesk's "initialize" and "finalize"
// events. A hook that returns an error stops Start (or is reported by
// Close) with that error.
type Hook func(ctx context.Context) error

// Router holds schema registrations, subscriptions and lifecycle hooks without a global
// application, so that a package can declare what it needs and a program
// can mount it: [Application.Mount]. The zero value is an empty Router.
// A Router is safe for concurrent use.
type Router struct {
	mu       sync.RWMutex
	schemas  map[string]*Schema       // by Key
	byType   map[reflect.Type]*Schema // by Go type, for Publish
	subs     []*Subscription
	produces []Production // Produces' declarations
	onStart  []Hook
	onStop   []Hook
}

// NewRouter returns an empty Router.
func NewRouter() *Router { return &Router{} }

func (r *Router) registry() *Router { return r }

// OnStart adds a hook run by Application.Start, in the order added.
func (r *Router) OnStart(h Hook) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.onStart = append(r.onStart, h)
}

// OnStop adds a hook run by Application.Close, in the order added.
func (r *Router) OnStop(h Hook) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.onStop = append(r.onStop, h)
}

// Subscriptions returns the registered subscriptions in the order added.
func (r *Router) Subscriptions() []*Subscription {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return slices.Clone(r.subs)
}

func (r *Router) addSubscription(s *Subscription) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.subs = append(r.subs, s)
}

// Schemas returns the registered schemas ordered by key.
func (r *Router) Schemas() []*Schema {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]*Schema, 0, len(r.schemas))
	for _, s := range r.schemas {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b *Schema) int { return compareKeys(a.key, b.key) })
	return out
}

// Schema returns the schema registered under key ("Foo:1"), or nil.
func (r *Router) Schema(key string) *Schema {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.schemas[key]
}

func (r *Router) schemaFor(t reflect.Type) *Schema {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.byType[t]
}

// addSchema registers s, or returns the equal registration already there.
func (r *Router) addSchema(s *Schema) (*Schema, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.schemas[s.key]; ok {
		if string(old.document) != string(s.document) || old.goType != s.goType {
			return nil, &SchemaConflictError{Existing: old, New: s}
		}
		return old, nil
	}
	if s.goType != nil {
		if old, ok := r.byType[s.goType]; ok {
			return nil, &SchemaConflictError{Existing: old, New: s}
		}
	}
	if r.schemas == nil {
		r.schemas = map[string]*Schema{}
		r.byType = map[reflect.Type]*Schema{}
	}
	r.schemas[s.key] = s
	if s.goType != nil {
		r.byType[s.goType] = s
	}
	return s, nil
}

// merge adds everything registered on other to r. Schemas conflict as they
// do when registered one by one; on a conflict r is left unchanged.
func (r *Router) merge(other *Router) error {
	if other == r {
		return nil
	}
	other.mu.RLock()
	schemas := make([]*Schema, 0, len(other.schemas))
	for _, s := range other.schemas {
		schemas = append(schemas, s)
	}
	onStart, onStop := slices.Clone(other.onStart), slices.Clone(other.onStop)
	produces := slices.Clone(other.produces)
	// Each application runs and counts its own copy of a router's
	// subscriptions, so that one router can be mounted into several.
	subs := make([]*Subscription, len(other.subs))
	for i, s := range other.subs {
		subs[i] = s.clone()
	}
	other.mu.RUnlock()

	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range schemas {
		if old, ok := r.schemas[s.key]; ok && (string(old.document) != string(s.document) || old.goType != s.goType) {
			return &SchemaConflictError{Existing: old, New: s}
		}
		if old, ok := r.byType[s.goType]; ok && s.goType != nil && old.key != s.key {
			return &SchemaConflictError{Existing: old, New: s}
		}
	}
	if r.schemas == nil {
		r.schemas = map[string]*Schema{}
		r.byType = map[reflect.Type]*Schema{}
	}
	for _, s := range schemas {
		r.schemas[s.key] = s
		if s.goType != nil {
			r.byType[s.goType] = s
		}
	}
	r.subs = append(r.subs, subs...)
	r.produces = append(r.produces, produces...)
	r.onStart = append(r.onStart, onStart...)
	r.onStop = append(r.onStop, onStop...)
	return nil
}

func (r *Router) hooks() (onStart, onStop []Hook) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return slices.Clone(r.onStart), slices.Clone(r.onStop)
}

func compareKeys(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
