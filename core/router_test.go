package core_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkaesk-go/kafkaesk/core"
)

type rtFoo struct {
	Bar string `json:"bar"`
}

// rtOtherFoo has other fields than rtFoo; both claim the id "Foo".
type rtOtherFoo struct {
	Baz int `json:"baz"`
}

type rtA struct{ A int }

type rtB struct{ B int }

type rtC struct{ C int }

// newRouterApp returns an Application that connects to nothing: New does
// not dial, and nothing here publishes.
func newRouterApp(t *testing.T) *core.Application {
	t.Helper()
	app, err := core.New(core.Config{Brokers: []string{"127.0.0.1:9092"}})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		assert.NoError(t, app.Close(ctx))
	})
	return app
}

// registrars runs f on a Router and on an Application.
func registrars(t *testing.T, f func(t *testing.T, r core.Registrar, schemas func() []*core.Schema)) {
	t.Run("Router", func(t *testing.T) {
		r := core.NewRouter()
		f(t, r, r.Schemas)
	})
	t.Run("zero Router", func(t *testing.T) {
		var r core.Router
		f(t, &r, r.Schemas)
	})
	t.Run("Application", func(t *testing.T) {
		app := newRouterApp(t)
		f(t, app, app.Schemas)
	})
}

func keys(schemas []*core.Schema) []string {
	out := make([]string, 0, len(schemas))
	for _, s := range schemas {
		out = append(out, s.Key())
	}
	return out
}

func TestRegister(t *testing.T) {
	registrars(t, func(t *testing.T, r core.Registrar, schemas func() []*core.Schema) {
		s, err := core.Register[rtFoo](r, &core.SchemaOptions{ID: "Foo"})
		require.NoError(t, err)
		assert.Equal(t, "Foo:1", s.Key())
		assert.Equal(t, []string{"Foo:1"}, keys(schemas()))
		assert.Same(t, s, schemas()[0])

		again, err := core.Register[rtFoo](r, &core.SchemaOptions{ID: "Foo"})
		require.NoError(t, err, "registering the same type and options twice is allowed")
		assert.Same(t, s, again)
		ptr, err := core.Register[*rtFoo](r, &core.SchemaOptions{ID: "Foo"})
		require.NoError(t, err, "*T is T")
		assert.Same(t, s, ptr)
		assert.Len(t, schemas(), 1)

		assert.Same(t, s, core.MustRegister[rtFoo](r, &core.SchemaOptions{ID: "Foo"}))
	})
}

func TestRegisterInvalidType(t *testing.T) {
	registrars(t, func(t *testing.T, r core.Registrar, schemas func() []*core.Schema) {
		_, err := core.Register[int](r, nil)
		require.Error(t, err)
		assert.Empty(t, schemas())
		assert.Panics(t, func() { core.MustRegister[[]string](r, nil) })
		assert.Empty(t, schemas())
	})
}

func TestRegisterConflictSameKey(t *testing.T) {
	registrars(t, func(t *testing.T, r core.Registrar, schemas func() []*core.Schema) {
		first, err := core.Register[rtFoo](r, &core.SchemaOptions{ID: "Foo"})
		require.NoError(t, err)

		s, err := core.Register[rtOtherFoo](r, &core.SchemaOptions{ID: "Foo", Version: 1})
		assert.Nil(t, s)
		var conflict *core.SchemaConflictError
		require.ErrorAs(t, err, &conflict)
		assert.Same(t, first, conflict.Existing)
		require.NotNil(t, conflict.New)
		assert.Equal(t, "Foo:1", conflict.New.Key())

		msg := err.Error()
		assert.Contains(t, msg, "schema conflict")
		assert.Contains(t, msg, "Foo:1")
		assert.Contains(t, msg, "core_test.rtFoo")
		assert.Contains(t, msg, "core_test.rtOtherFoo")

		assert.Equal(t, []*core.Schema{first}, schemas(), "a conflict registers nothing")
		assert.Panics(t, func() { core.MustRegister[rtOtherFoo](r, &core.SchemaOptions{ID: "Foo"}) })

		// The same id under another version is another schema.
		v2, err := core.Register[rtOtherFoo](r, &core.SchemaOptions{ID: "Foo", Version: 2})
		require.NoError(t, err)
		assert.Equal(t, []string{"Foo:1", "Foo:2"}, keys(schemas()))
		assert.Same(t, v2, schemas()[1])
	})
}

func TestRegisterConflictSameTypeTwoKeys(t *testing.T) {
	for _, tt := range []struct {
		name       string
		first, new core.SchemaOptions
		keys       []string
	}{
		{"other version", core.SchemaOptions{ID: "Foo"}, core.SchemaOptions{ID: "Foo", Version: 2}, []string{"Foo:1", "Foo:2"}},
		{"other id", core.SchemaOptions{ID: "Foo"}, core.SchemaOptions{ID: "Bar"}, []string{"Foo:1", "Bar:1"}},
		{"default id, then another", core.SchemaOptions{}, core.SchemaOptions{ID: "Foo"}, []string{"rtFoo:1", "Foo:1"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			registrars(t, func(t *testing.T, r core.Registrar, schemas func() []*core.Schema) {
				first, err := core.Register[rtFoo](r, &tt.first)
				require.NoError(t, err)
				_, err = core.Register[rtFoo](r, &tt.new)
				var conflict *core.SchemaConflictError
				require.ErrorAs(t, err, &conflict)
				assert.Same(t, first, conflict.Existing)
				msg := err.Error()
				assert.Contains(t, msg, "schema conflict")
				assert.Contains(t, msg, "core_test.rtFoo")
				for _, k := range tt.keys {
					assert.Contains(t, msg, k)
				}
				assert.Equal(t, []*core.Schema{first}, schemas())
			})
		})
	}
}

func TestRouterSchemaLookup(t *testing.T) {
	r := core.NewRouter()
	assert.Nil(t, r.Schema("Foo:1"))
	foo := core.MustRegister[rtFoo](r, &core.SchemaOptions{ID: "Foo"})
	a := core.MustRegister[rtA](r, &core.SchemaOptions{ID: "A", Version: 3})
	assert.Same(t, foo, r.Schema("Foo:1"))
	assert.Same(t, a, r.Schema("A:3"))
	for _, missing := range []string{"Foo", "Foo:2", "A:1", "rtFoo:1", "", "foo:1"} {
		assert.Nil(t, r.Schema(missing), "Schema(%q)", missing)
	}
}

func TestSchemasSortedByKey(t *testing.T) {
	registrars(t, func(t *testing.T, r core.Registrar, schemas func() []*core.Schema) {
		core.MustRegister[rtC](r, &core.SchemaOptions{ID: "c"})
		core.MustRegister[rtA](r, &core.SchemaOptions{ID: "a", Version: 2})
		core.MustRegister[rtFoo](r, &core.SchemaOptions{ID: "Foo"})
		core.MustRegister[rtB](r, &core.SchemaOptions{ID: "b"})
		core.MustRegister[rtOtherFoo](r, &core.SchemaOptions{ID: "a"})
		got := keys(schemas())
		assert.Equal(t, []string{"Foo:1", "a:1", "a:2", "b:1", "c:1"}, got)
		assert.True(t, slices.IsSorted(got))

		// Schemas returns a new slice each time.
		s := schemas()
		s[0] = nil
		assert.NotNil(t, schemas()[0])
	})
}

// recorder records hook calls.
type recorder struct {
	mu    sync.Mutex
	calls []string
}

func (r *recorder) hook(name string) core.Hook {
	return func(context.Context) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.calls = append(r.calls, name)
		return nil
	}
}

func (r *recorder) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

func TestMount(t *testing.T) {
	app := newRouterApp(t)
	var rec recorder
	app.OnStart(rec.hook("app start"))
	app.OnStop(rec.hook("app stop"))
	own := core.MustRegister[rtA](app, &core.SchemaOptions{ID: "A"})

	r := core.NewRouter()
	foo := core.MustRegister[rtFoo](r, &core.SchemaOptions{ID: "Foo"})
	b := core.MustRegister[rtB](r, &core.SchemaOptions{ID: "B", Version: 2})
	r.OnStart(rec.hook("router start 1"))
	r.OnStart(rec.hook("router start 2"))
	r.OnStop(rec.hook("router stop"))

	require.NoError(t, app.Mount(r))
	assert.Equal(t, []*core.Schema{own, b, foo}, app.Schemas())

	// Mounting an empty router changes nothing.
	require.NoError(t, app.Mount(core.NewRouter()))
	assert.Equal(t, []string{"A:1", "B:2", "Foo:1"}, keys(app.Schemas()))

	// The router is not changed by mounting.
	assert.Equal(t, []*core.Schema{b, foo}, r.Schemas())

	// A type mounted from the router is registered: registering it again
	// under the same key is allowed, under another key is a conflict.
	again, err := core.Register[rtFoo](app, &core.SchemaOptions{ID: "Foo"})
	require.NoError(t, err)
	assert.Equal(t, foo.Key(), again.Key())
	_, err = core.Register[rtFoo](app, &core.SchemaOptions{ID: "Foo", Version: 9})
	var conflict *core.SchemaConflictError
	require.ErrorAs(t, err, &conflict)

	// Start and Close run the application's hooks, then the router's, in
	// order. No schema has streams, so neither needs a broker.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, app.Start(ctx))
	assert.Equal(t, []string{"app start", "router start 1", "router start 2"}, rec.get())
	require.NoError(t, app.Close(ctx))
	assert.Equal(t, []string{"app start", "router start 1", "router start 2", "app stop", "router stop"}, rec.get())
}

func TestMountRouterIntoTwoApplications(t *testing.T) {
	// One router may be mounted into several applications.
	r := core.NewRouter()
	foo := core.MustRegister[rtFoo](r, &core.SchemaOptions{ID: "Foo"})
	for i := range 2 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			app := newRouterApp(t)
			require.NoError(t, app.Mount(r))
			assert.Equal(t, []*core.Schema{foo}, app.Schemas())
		})
	}
}

// A router may register what the application registers too, identically.
func TestMountSameRegistration(t *testing.T) {
	app := newRouterApp(t)
	core.MustRegister[rtFoo](app, &core.SchemaOptions{ID: "Foo"})
	r := core.NewRouter()
	core.MustRegister[rtFoo](r, &core.SchemaOptions{ID: "Foo"})
	require.NoError(t, app.Mount(r))
	assert.Equal(t, []string{"Foo:1"}, keys(app.Schemas()))
	s, err := core.Register[rtFoo](app, &core.SchemaOptions{ID: "Foo"})
	require.NoError(t, err)
	assert.Equal(t, "Foo:1", s.Key())
}

func TestMountConflict(t *testing.T) {
	for _, tt := range []struct {
		name  string
		setup func(app *core.Application, r *core.Router)
	}{
		{"same key, other type", func(app *core.Application, r *core.Router) {
			core.MustRegister[rtFoo](app, &core.SchemaOptions{ID: "Foo"})
			core.MustRegister[rtOtherFoo](r, &core.SchemaOptions{ID: "Foo"})
		}},
		{"same type, other key", func(app *core.Application, r *core.Router) {
			core.MustRegister[rtFoo](app, &core.SchemaOptions{ID: "Foo"})
			core.MustRegister[rtFoo](r, &core.SchemaOptions{ID: "Foo", Version: 2})
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			app := newRouterApp(t)
			r := core.NewRouter()
			tt.setup(app, r)
			// Schemas that do not conflict are not merged either.
			core.MustRegister[rtA](r, &core.SchemaOptions{ID: "A"})
			core.MustRegister[rtB](r, &core.SchemaOptions{ID: "ZZ"})
			var rec recorder
			r.OnStart(rec.hook("router start"))
			r.OnStop(rec.hook("router stop"))
			before := app.Schemas()

			err := app.Mount(r)
			var conflict *core.SchemaConflictError
			require.ErrorAs(t, err, &conflict)
			assert.Contains(t, err.Error(), "schema conflict")
			assert.Contains(t, err.Error(), "Foo:1")
			assert.Equal(t, before, app.Schemas(), "a failed Mount leaves the application's schemas unchanged")

			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			require.NoError(t, app.Start(ctx))
			require.NoError(t, app.Close(ctx))
			assert.Empty(t, rec.get(), "a failed Mount adds no hooks")
		})
	}
}

// Registering, mounting and reading concurrently is safe (run with -race),
// and every goroutine registering a type gets the same *Schema.
func TestRegisterConcurrent(t *testing.T) {
	registrars(t, func(t *testing.T, r core.Registrar, schemas func() []*core.Schema) {
		const goroutines = 16
		var wg sync.WaitGroup
		got := make([]*core.Schema, goroutines)
		errs := make([]error, goroutines)
		for i := range goroutines {
			wg.Go(func() {
				var err error
				switch i % 4 {
				case 0:
					got[i], err = core.Register[rtFoo](r, &core.SchemaOptions{ID: "Foo"})
				case 1:
					got[i], err = core.Register[*rtFoo](r, &core.SchemaOptions{ID: "Foo"})
				case 2:
					_, err = core.Register[rtA](r, &core.SchemaOptions{ID: "A"})
					_ = keys(schemas())
				case 3:
					_, err = core.Register[rtB](r, &core.SchemaOptions{ID: "B", Version: i})
					var conflict *core.SchemaConflictError
					if errors.As(err, &conflict) {
						err = nil // rtB under one version only: the first goroutine wins
					}
					if app, ok := r.(*core.Application); ok {
						router := core.NewRouter()
						core.MustRegister[rtC](router, &core.SchemaOptions{ID: "C"})
						err = errors.Join(err, app.Mount(router))
					}
				}
				errs[i] = err
			})
		}
		wg.Wait()
		require.NoError(t, errors.Join(errs...))
		var foo *core.Schema
		for i, s := range got {
			if i%4 > 1 {
				continue
			}
			if foo == nil {
				foo = s
			}
			assert.Same(t, foo, s, "goroutine %d", i)
		}
		names := keys(schemas())
		assert.Contains(t, names, "Foo:1")
		assert.Contains(t, names, "A:1")
		bs := slices.DeleteFunc(slices.Clone(names), func(k string) bool { return k[0] != 'B' })
		assert.Len(t, bs, 1, "rtB registered once: %v", names)
		assert.True(t, slices.IsSorted(names))
	})
}
