package sloghandler_test

import (
	"testing"

	"go.uber.org/goleak"
)

// The worker, and everything the application and the embedded broker
// start, must be gone once they are closed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
