package loadgen_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Run ends every goroutine it starts (the loggers, the monitor, the
// outage, the handler's worker), and the tests close the applications
// and brokers they start: nothing may be left at the end.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
