package loadgen

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkaesk-go/kafkaesk/sloghandler"
)

// The zero Options are valid, and stand for the documented defaults.
func TestZeroOptionsAreTheDefaults(t *testing.T) {
	var zero Options
	o := zero.withDefaults()
	require.NoError(t, o.validate())
	assert.Equal(t, Options{
		Goroutines:   8,
		Duration:     10 * time.Second,
		QueueSize:    sloghandler.DefaultQueueSize,
		WhenFull:     sloghandler.DropNewest,
		Stream:       "bench.logs",
		Outage:       5 * time.Second,
		ProduceDelay: 50 * time.Millisecond,
		DrainTimeout: 30 * time.Second,
		Progress:     o.Progress,
		Name:         "loadgen",
	}, o)
	assert.NotNil(t, o.Progress)
	assert.Equal(t, Options{}, zero, "the caller's options are not written to")
}

func TestBurstDefaultsToASmallQueue(t *testing.T) {
	assert.Equal(t, BurstQueueSize, Options{Scenario: Burst}.withDefaults().QueueSize)
	assert.Equal(t, 10, Options{Scenario: Burst, QueueSize: 10}.withDefaults().QueueSize, "unless set")
}

// Every problem is reported at once, each naming its option and bound.
func TestBadOptionsAreAllReported(t *testing.T) {
	o := Options{
		Scenario:   Outage, // without a Broker
		Goroutines: -1,
		Rate:       -5,
		Duration:   time.Second,
		Outage:     2 * time.Second,
		Probe:      -time.Second,
		WhenFull:   7,
	}.withDefaults()
	err := o.validate()
	require.Error(t, err)
	for _, want := range []string{
		"goroutines -1 is less than allowed 1",
		"rate -5 is less than allowed 0",
		"probe -1s is less than allowed 0s",
		"scenario outage controls the broker: it needs Options.Broker",
		"outage 2s is not shorter than the duration 1s",
		"when full 7 is not DropNewest or Block",
	} {
		assert.Contains(t, err.Error(), want)
	}
	o = Options{Scenario: "soak"}.withDefaults()
	err = o.validate()
	assert.ErrorContains(t, err, `scenario "soak" is not one of [steady burst slow-broker outage]`)
}
