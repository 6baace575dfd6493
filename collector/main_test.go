package collector_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every goroutine a Collector, its application or an embedded broker
// starts must be gone once they are closed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
