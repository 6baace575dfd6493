package interop_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kafkaesk-go/kafkaesk/core"
)

// The programs the tests run, set by TestMain.
var (
	// pythonBin is the python of the virtual environment scripts/python-env
	// keeps, with Python kafkaesk installed.
	pythonBin string
	// kafkaeskBin is the kafkaesk command, built from ./cmd/kafkaesk.
	kafkaeskBin string
	// repoRoot is the repository's top folder.
	repoRoot string
)

// clusterName is the CLUSTER environment variable of this process and of
// the Python programs: the "cluster" field of both sides' log events.
const clusterName = "interop-cluster"

// TestMain makes the Python environment and builds the kafkaesk command
// once for every test, then runs them and checks that no goroutine of an
// Application, a handler or a subprocess outlives them.
func TestMain(m *testing.M) {
	// Before anything reads it: record.LocalHost is computed once.
	os.Setenv("CLUSTER", clusterName)
	dir, err := setup()
	if err != nil {
		fmt.Fprintf(os.Stderr, "interop: %v\n", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "interop: goroutines left behind: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// setup finds the repository, makes the Python environment and builds the
// kafkaesk command into a temporary folder, which it returns.
func setup() (dir string, err error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	repoRoot = filepath.Dir(wd) // go test runs in the package's folder, interop/
	if _, err := os.Stat(filepath.Join(repoRoot, "scripts", "python-env")); err != nil {
		return "", fmt.Errorf("not run from the repository's interop/ folder: %w", err)
	}
	if pythonBin, err = pythonEnv(); err != nil {
		return "", err
	}
	dir, err = os.MkdirTemp("", "kafkaesk-interop-")
	if err != nil {
		return "", err
	}
	kafkaeskBin = filepath.Join(dir, "kafkaesk")
	if err := buildKafkaesk(kafkaeskBin); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

// pythonEnv runs scripts/python-env (which makes the environment, or
// reuses the one cached) and returns the python it prints.
func pythonEnv() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(repoRoot, "scripts", "python-env"))
	cmd.Stderr = os.Stderr // progress, and what is missing when it fails
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("scripts/python-env failed (%v): the interop tests need Python kafkaesk; see its message above", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	py := lines[len(lines)-1]
	if _, err := os.Stat(py); err != nil {
		return "", fmt.Errorf("scripts/python-env printed %q, which is not a file: %w", py, err)
	}
	return py, nil
}

// buildKafkaesk builds ./cmd/kafkaesk into bin, with the go command that
// runs the tests.
func buildKafkaesk(bin string) error {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		goCmd = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goCmd, "build", "-o", bin, "./cmd/kafkaesk")
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/kafkaesk: %v\n%s", err, out)
	}
	return nil
}

// clientUnderTest is the Kafka client every Application of these tests
// runs on: $KAFKAESK_CLIENT, which make test sets to each client in turn,
// as in the core tests.
func clientUnderTest() string {
	if c := os.Getenv(core.EnvClient); c != "" {
		return c
	}
	return core.ClientKafkaGo
}

// errTimeout is returned by waits that ran out of time.
var errTimeout = errors.New("timed out")
