package loadgen_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/kafkaesk-go/kafkaesk/internal/loadgen"
)

// The measured call is a realistic one: 5 attributes and a log model,
// a few hundred bytes published.
func TestEventIsAFewHundredBytes(t *testing.T) {
	n := loadgen.EventSize()
	assert.InDelta(t, 400, n, 100, "the measured call's event is %d bytes", n)
}
