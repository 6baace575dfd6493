package grafana_test

import (
	"testing"

	"go.uber.org/goleak"
)

// The application and its subscription must be gone once closed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
