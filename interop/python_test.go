package interop_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// pyTimeout bounds every Python program that runs to its end: the slowest,
// a consumer joining a group on a real broker, needs a few seconds.
const pyTimeout = 60 * time.Second

// python runs interop/python/<script> with spec (encoded as JSON) on its
// stdin, against the test's cluster, and returns its stdout's JSON lines
// decoded into T. It fails the test, showing the program's stderr, when
// the program fails, outlives pyTimeout, or prints a line that is not T.
func python[T any](t *testing.T, e *env, script string, spec any) []T {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), pyTimeout)
	defer cancel()
	cmd := e.pythonCmd(ctx, script, spec)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("python %s did not finish in %v; its stderr:\n%s", script, pyTimeout, stderr.String())
	}
	if err != nil {
		t.Fatalf("python %s failed after %v: %v; its stderr:\n%s", script, time.Since(start).Round(time.Millisecond), err, stderr.String())
	}
	t.Logf("python %s: %v", script, time.Since(start).Round(time.Millisecond))
	return decodeLines[T](t, script, stdout.Bytes(), stderr.String())
}

// decodeLines decodes each line of out as a T.
func decodeLines[T any](t *testing.T, script string, out []byte, stderr string) []T {
	t.Helper()
	var got []T
	for line := range bytes.Lines(out) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var v T
		if err := json.Unmarshal(line, &v); err != nil {
			t.Fatalf("python %s printed %q, not a %T: %v; its stderr:\n%s", script, line, v, err, stderr)
		}
		got = append(got, v)
	}
	return got
}

// pythonCmd is the command running script against e's cluster with spec
// on its stdin. The program gets this process's environment (CLUSTER
// included), writes no bytecode into the repository, and is killed if
// ctx ends.
func (e *env) pythonCmd(ctx context.Context, script string, spec any) *exec.Cmd {
	in, err := json.Marshal(spec)
	if err != nil {
		panic(fmt.Sprintf("spec of %s: %v", script, err)) // the tests' own values: cannot happen
	}
	cmd := exec.CommandContext(ctx, pythonBin, filepath.Join(repoRoot, "interop", "python", script),
		"--brokers", strings.Join(e.brokers, ","), "--prefix", e.prefix)
	cmd.Stdin = bytes.NewReader(in)
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1")
	cmd.WaitDelay = 5 * time.Second // stdout's copy ends even if a grandchild holds the pipe
	return cmd
}

// pyProcess is a Python program running in the background, such as a
// group worker, whose JSON lines are read as it prints them.
type pyProcess struct {
	script string
	cmd    *exec.Cmd
	cancel context.CancelFunc

	stopOnce sync.Once
	stopErr  error // set by stopOnce

	mu     sync.Mutex
	stderr bytes.Buffer // guarded by mu
	lines  [][]byte     // guarded by mu: stdout's lines so far
	more   chan struct{}
	done   chan struct{} // closed once stdout is read to its end
}

// startPython starts script with spec in the background. The test's
// cleanup stops it if the test has not, and shows its stderr if the test
// failed.
func startPython(t *testing.T, e *env, script string, spec any) *pyProcess {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*pyTimeout)
	p := &pyProcess{script: script, cancel: cancel, more: make(chan struct{}, 1), done: make(chan struct{})}
	p.cmd = e.pythonCmd(ctx, script, spec)
	p.cmd.Stderr = lockedWriter{&p.mu, &p.stderr}
	stdout, err := p.cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, p.cmd.Start(), "start python %s", script)
	go p.read(stdout)
	t.Cleanup(func() {
		err := p.stop()
		if err != nil || t.Failed() {
			t.Logf("python %s (stopped: %v); its stderr:\n%s", script, err, p.errors())
		}
	})
	return p
}

// read collects stdout's lines until it closes.
func (p *pyProcess) read(r io.Reader) {
	defer close(p.done)
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		p.mu.Lock()
		p.lines = append(p.lines, bytes.Clone(sc.Bytes()))
		p.mu.Unlock()
		select {
		case p.more <- struct{}{}:
		default:
		}
	}
}

// output returns the lines printed so far.
func (p *pyProcess) output() [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([][]byte(nil), p.lines...)
}

// errors returns what the program wrote to stderr so far.
func (p *pyProcess) errors() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// stop asks the program to stop with SIGTERM, as a deployment does, and
// waits for it: an error unless it exits 0 within 20 s (then it is
// killed). A second stop returns the first one's answer.
func (p *pyProcess) stop() error {
	p.stopOnce.Do(func() { p.stopErr = p.terminate() })
	return p.stopErr
}

// terminate sends SIGTERM and waits for the program to exit.
func (p *pyProcess) terminate() error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	waited := make(chan error, 1)
	go func() {
		<-p.done
		waited <- p.cmd.Wait()
	}()
	defer p.cancel()
	select {
	case err := <-waited:
		if err != nil {
			return fmt.Errorf("python %s: %v; its stderr:\n%s", p.script, err, p.errors())
		}
		return nil
	case <-time.After(20 * time.Second):
		p.cancel() // kills it
		<-waited
		return fmt.Errorf("python %s did not stop within 20 s of SIGTERM; its stderr:\n%s", p.script, p.errors())
	}
}

// lockedWriter serialises writes to w with mu.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
