package core

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// Production declares what an application publishes: a schema's messages,
// to streams. Productions document the application (the AsyncAPI document
// of package asyncapi lists a send operation for each); they do not
// restrict what it may publish.
type Production struct {
	Schema  *Schema
	Streams []string
}

// Produces declares on r (a *Router or *Application) that the
// application publishes values of T to streams, as FastKafka's produces:
// T is registered first when it is not (with the default options: its
// type name, version 1). Declaring the same type and stream twice is
// harmless. It returns T's schema.
//
//	core.Produces[Order](app, "orders", "orders.audit")
func Produces[T any](r Registrar, streams ...string) (*Schema, error) {
	if len(streams) == 0 {
		return nil, errors.New("kafkaesk: Produces: no streams given")
	}
	for _, s := range streams {
		if s == "" || strings.ContainsAny(s, "*?[") {
			return nil, fmt.Errorf("kafkaesk: Produces: stream %q is not a stream name", s)
		}
	}
	reg := r.registry()
	s := reg.schemaFor(reflect.TypeFor[T]())
	if s == nil {
		var err error
		if s, err = Register[T](r, nil); err != nil {
			return nil, err
		}
	}
	reg.addProduction(Production{Schema: s, Streams: slices.Clone(streams)})
	return s, nil
}

// addProduction records p, merging its streams into an earlier
// declaration of the same schema.
func (r *Router) addProduction(p Production) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, old := range r.produces {
		if old.Schema == p.Schema {
			for _, s := range p.Streams {
				if !slices.Contains(old.Streams, s) {
					r.produces[i].Streams = append(r.produces[i].Streams, s)
				}
			}
			return
		}
	}
	r.produces = append(r.produces, p)
}

// Productions returns what the router declares it publishes, ordered by
// schema key, each schema's streams sorted.
func (r *Router) Productions() []Production {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]Production, len(r.produces))
	for i, p := range r.produces {
		out[i] = Production{Schema: p.Schema, Streams: slices.Sorted(slices.Values(p.Streams))}
	}
	slices.SortFunc(out, func(a, b Production) int { return compareKeys(a.Schema.key, b.Schema.key) })
	return out
}

// Productions returns what the application declares it publishes (with
// Produces, on it or on routers mounted into it), ordered by schema key.
func (a *Application) Productions() []Production { return a.reg.Productions() }
