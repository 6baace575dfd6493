package core_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkaesk-go/kafkaesk/core"
	"github.com/kafkaesk-go/kafkaesk/kafkaesktest"
)

// securedApp returns an application on brokers with settings (a
// --kafka-settings JSON object) and prefix, closed when the test ends.
func securedApp(t *testing.T, brokers []string, settings, prefix string) *core.Application {
	t.Helper()
	cfg := core.Config{Brokers: brokers, TopicPrefix: prefix, Logger: slog.New(slog.DiscardHandler), Partitions: 1,
		CommitInterval: 100 * time.Millisecond}
	require.NoError(t, cfg.ApplySettings([]byte(settings)))
	app, err := core.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { app.Close(context.Background()) })
	core.MustRegister[Foo](app, nil)
	return app
}

// On the SASL_SSL listener as each mechanism's user, and on the
// mutual-TLS listener: a publish creates the stream's topic, a group
// consumes and commits, and the next member of the group goes on from
// the commit.
func TestSecuredPublishSubscribeAndCommit(t *testing.T) {
	s := kafkaesktest.NewSecured(t)
	type listener struct{ name, settings string }
	var listeners []listener
	for _, u := range s.Users {
		listeners = append(listeners, listener{"SASL_SSL " + u.Mechanism, s.Settings(u)})
	}
	listeners = append(listeners, listener{"mutual TLS", s.MTLSSettings()})
	for i, l := range listeners {
		t.Run(l.name, func(t *testing.T) {
			brokers := s.SASLBrokers
			if i == len(listeners)-1 {
				brokers = s.MTLSBrokers
			}
			prefix := kafkaesktest.TopicPrefix(t)
			app := securedApp(t, brokers, l.settings, prefix)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			require.NoError(t, app.Publish(ctx, "orders", Foo{Bar: "1"}), "the first publish creates the topic")
			require.NoError(t, app.Publish(ctx, "orders", Foo{Bar: "2"}))

			group := prefix + "g"
			consume := func(app *core.Application, n int) []string {
				got := newCollector[string]()
				_, err := core.Subscribe(app, "orders", group, func(_ context.Context, m *core.Message[Foo]) error {
					got.add(fmt.Sprintf("%s@%d", m.Data.Bar, m.Record.Offset))
					return nil
				}, nil)
				require.NoError(t, err)
				run := startRun(t, app)
				out := got.waitFor(t, n, 30*time.Second)
				require.NoError(t, run.stop(t))
				return out
			}
			assert.Equal(t, []string{"1@0", "2@1"}, consume(app, 2))

			next := securedApp(t, brokers, l.settings, prefix)
			require.NoError(t, next.Publish(ctx, "orders", Foo{Bar: "3"}))
			assert.Equal(t, []string{"3@2"}, consume(next, 1), "the group's commit holds")
		})
	}
}
