// Package grafana holds the Grafana dashboard of kafkaesk's metrics,
// kafkaesk.json; its test checks that every metric the dashboard queries
// is one the project exports.
package grafana_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkaesk-go/kafkaesk/core"
	"github.com/kafkaesk-go/kafkaesk/kafkaesktest"
	"github.com/kafkaesk-go/kafkaesk/sloghandler"
)

type dashboard struct {
	Title  string `json:"title"`
	Panels []struct {
		Type    string `json:"type"`
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

var metricName = regexp.MustCompile(`\bkafkaesk_[a-z_]+`)

type ping struct {
	N int `json:"n"`
}

// Every query of the dashboard names metrics that an application, a
// subscription and a sloghandler export, and is balanced.
func TestDashboardQueriesExportedMetrics(t *testing.T) {
	raw, err := os.ReadFile("kafkaesk.json")
	require.NoError(t, err)
	var d dashboard
	require.NoError(t, json.Unmarshal(raw, &d))
	wanted := map[string]bool{}
	queries := 0
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		require.NotEmpty(t, p.Targets, "panel %q has no query", p.Title)
		for _, tg := range p.Targets {
			queries++
			for _, pair := range []string{"()", "{}", "[]"} {
				assert.Equal(t, strings.Count(tg.Expr, pair[:1]), strings.Count(tg.Expr, pair[1:]), "unbalanced %s in %q", pair, tg.Expr)
			}
			for _, n := range metricName.FindAllString(tg.Expr, -1) {
				wanted[strings.TrimSuffix(n, "_bucket")] = true
			}
		}
	}
	require.GreaterOrEqual(t, queries, 15)

	reg := prometheus.NewRegistry()
	app, err := core.New(core.Config{Brokers: kafkaesktest.Brokers(t), TopicPrefix: kafkaesktest.TopicPrefix(t), Metrics: reg,
		Partitions: 1, CommitInterval: 100 * time.Millisecond, HeartbeatInterval: 200 * time.Millisecond, SessionTimeout: 6 * time.Second,
		Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	defer app.Close(ctx)
	h, err := sloghandler.New(app, "logs", nil)
	require.NoError(t, err)
	defer h.Close(ctx)
	slog.New(h).Info("hello")
	require.NoError(t, app.Publish(ctx, "pings", ping{N: 1}))
	handled := make(chan struct{}, 1)
	_, err = core.Subscribe(app, "pings", "dashboard", func(context.Context, *core.Message[ping]) error {
		handled <- struct{}{}
		return nil
	}, nil)
	require.NoError(t, err)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- app.Run(runCtx) }()
	defer func() { stop(); <-done }()
	select {
	case <-handled:
	case <-ctx.Done():
		t.Fatal("the ping was not handled")
	}
	require.NoError(t, h.Flush(ctx))

	have := map[string]bool{}
	require.Eventually(t, func() bool {
		families, err := reg.Gather()
		require.NoError(t, err)
		for _, f := range families {
			have[f.GetName()] = true
		}
		return have["kafkaesk_consumer_lag"] && have["kafkaesk_consumed_messages_total"]
	}, 10*time.Second, 20*time.Millisecond)
	for n := range wanted {
		assert.True(t, have[n], "the dashboard queries %s, which nothing exports", n)
	}
}
