package testutil

import (
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Series finds a gathered series by name and labels; it fails the test
// when there is none.
func Series(t testing.TB, reg prometheus.Gatherer, name string, labels map[string]string) *dto.Metric {
	t.Helper()
	m, ok := FindSeries(t, reg, name, labels)
	if !ok {
		t.Fatalf("no series %s%v; gathered:\n%s", name, labels, gatheredNames(t, reg))
	}
	return m
}

// FindSeries is Series that reports whether the series exists.
func FindSeries(t testing.TB, reg prometheus.Gatherer, name string, labels map[string]string) (*dto.Metric, bool) {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue next
				}
			}
			return m, true
		}
	}
	return nil, false
}

func gatheredNames(t testing.TB, reg prometheus.Gatherer) string {
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var b strings.Builder
	for _, f := range families {
		for _, m := range f.GetMetric() {
			fmt.Fprintf(&b, "  %s %v\n", f.GetName(), m.GetLabel())
		}
	}
	return b.String()
}

// CounterValue is the value of a counter series.
func CounterValue(t testing.TB, reg prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	return Series(t, reg, name, labels).GetCounter().GetValue()
}

// HistogramCount is the sample count of a histogram series.
func HistogramCount(t testing.TB, reg prometheus.Gatherer, name string, labels map[string]string) uint64 {
	t.Helper()
	return Series(t, reg, name, labels).GetHistogram().GetSampleCount()
}

// GaugeValue is the value of a gauge series.
func GaugeValue(t testing.TB, reg prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	return Series(t, reg, name, labels).GetGauge().GetValue()
}
