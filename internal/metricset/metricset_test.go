package metricset

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

var desc = prometheus.NewDesc("members", "Live members.", nil, nil)

// Members sharing a registerer are collected once, together; the last
// one out unregisters the collector, and Register shares collectors.
func TestSet(t *testing.T) {
	s := New([]*prometheus.Desc{desc}, func(ms []int, ch chan<- prometheus.Metric) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, float64(len(ms)))
	})
	reg := prometheus.NewRegistry()
	gauge := func() float64 {
		fs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		if len(fs) == 0 {
			return -1
		}
		return fs[0].GetMetric()[0].GetGauge().GetValue()
	}
	for _, m := range []int{1, 2} {
		if err := s.Add(reg, m); err != nil {
			t.Fatal(err)
		}
	}
	if g := gauge(); g != 2 {
		t.Errorf("two members: gauge %v", g)
	}
	s.Remove(reg, 1)
	if g := gauge(); g != 1 {
		t.Errorf("one member: gauge %v", g)
	}
	s.Remove(reg, 2)
	if g := gauge(); g != -1 {
		t.Errorf("no member: still collected (%v)", g)
	}
	s.Remove(reg, 2) // twice: nothing

	c1, err := Register(reg, prometheus.NewCounter(prometheus.CounterOpts{Name: "c_total", Help: "h"}))
	if err != nil {
		t.Fatal(err)
	}
	c2, err := Register(reg, prometheus.NewCounter(prometheus.CounterOpts{Name: "c_total", Help: "h"}))
	if err != nil || c1 != c2 {
		t.Errorf("second Register: %v, same collector %v", err, c1 == c2)
	}
}
