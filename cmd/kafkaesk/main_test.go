package main

// The test harness of the kafkaesk command. TestMain builds the binary
// once; end-to-end tests run it with these helpers:
//
//	stdout, stderr, code := runKafkaesk(t, "stdin text", "publish", "--stream", "s", ...)
//
//	p := startKafkaesk(t, "broker", "--port", "0")
//	line := p.waitOutput(t, "listening on", 30*time.Second)
//	p.signal(os.Interrupt)
//	code := p.wait(30 * time.Second)
//
// In-process tests call runMain, which runs run() with buffers as the
// standard streams.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// kafkaeskBin is the path of the kafkaesk binary TestMain builds.
var kafkaeskBin string

// cmdTimeout bounds a runKafkaesk command: generous, as the tests share
// two cores with other test binaries.
const cmdTimeout = 60 * time.Second

// TestMain builds the binary for the end-to-end tests, runs the tests,
// and requires every goroutine of the in-process tests (applications,
// embedded brokers, readers) to be gone at the end.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kafkaesk-cmd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	kafkaeskBin = filepath.Join(dir, "kafkaesk")
	if out, err := exec.Command("go", "build", "-o", kafkaeskBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build -o %s .: %v\n%s", kafkaeskBin, err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		os.RemoveAll(dir)
		os.Exit(code)
	}))
}

// runMain runs the command line args in this process, as main does, with
// stdin as its standard input, and returns what it wrote and its exit
// code. ctx stands for the signals: cancel it to "send SIGINT".
func runMain(ctx context.Context, stdin string, args ...string) (stdout, stderr string, code int) {
	var out, errOut bytes.Buffer
	code = run(ctx, args, &stdio{in: strings.NewReader(stdin), out: &out, err: &errOut})
	return out.String(), errOut.String(), code
}

// runKafkaesk runs the built binary with args, stdin as its standard
// input and the test's environment, and returns its output and exit code.
// A command still running after cmdTimeout is killed and fails the test.
func runKafkaesk(t testing.TB, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	p := startProc(t, strings.NewReader(stdin), args)
	code = p.wait(cmdTimeout)
	return p.stdout(), p.stderr(), code
}

// startKafkaesk starts the built binary with args in the background, with
// the test's environment. Its standard input is a pipe, p.stdin (close it
// for end of file); its output is collected as it comes, for waitOutput,
// stdout and stderr. The process is killed when the test ends, if it is
// still running, and its output is logged if the test failed.
func startKafkaesk(t testing.TB, args ...string) *proc {
	t.Helper()
	return startProc(t, nil, args)
}

// proc is a running kafkaesk binary. Its methods are called from the
// test's goroutine; the output buffers are safe for concurrent use.
type proc struct {
	t     testing.TB
	args  []string
	cmd   *exec.Cmd
	stdin io.WriteCloser // nil when runKafkaesk gave the input
	out   *outputBuffer
	err   *outputBuffer
	done  chan struct{} // closed once the process has exited and code is set
	code  int           // exit code; -1 when killed by a signal
}

// startProc starts the binary; stdin nil means a pipe in p.stdin.
func startProc(t testing.TB, stdin io.Reader, args []string) *proc {
	t.Helper()
	p := &proc{t: t, args: args, out: newOutputBuffer(), err: newOutputBuffer(), done: make(chan struct{})}
	p.cmd = exec.Command(kafkaeskBin, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.err
	p.cmd.WaitDelay = 5 * time.Second // never hang on output pipes after exit
	if stdin != nil {
		p.cmd.Stdin = stdin
	} else {
		w, err := p.cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		p.stdin = w
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start kafkaesk %s: %v", strings.Join(args, " "), err)
	}
	go func() {
		_ = p.cmd.Wait() // the exit code tells
		p.code = p.cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("kafkaesk %s\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), p.stdout(), p.stderr())
		}
	})
	return p
}

// stdout returns what the process wrote to its standard output so far.
func (p *proc) stdout() string { return p.out.String() }

// stderr returns what the process wrote to its standard error so far.
func (p *proc) stderr() string { return p.err.String() }

// waitOutput waits until the process has written a whole line holding
// substr to its standard output or error, and returns that line (without
// its newline). It fails the test if the process exits without writing it
// or timeout passes.
func (p *proc) waitOutput(t testing.TB, substr string, timeout time.Duration) string {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		changedOut, changedErr := p.out.changed(), p.err.changed()
		for _, b := range []*outputBuffer{p.out, p.err} {
			if line, ok := b.line(substr, false); ok {
				return line
			}
		}
		select {
		case <-changedOut:
		case <-changedErr:
		case <-p.done:
			// The output is complete once Wait has returned.
			for _, b := range []*outputBuffer{p.out, p.err} {
				if line, ok := b.line(substr, true); ok {
					return line
				}
			}
			t.Fatalf("kafkaesk %s exited with code %d before writing %q\nstdout:\n%s\nstderr:\n%s",
				strings.Join(p.args, " "), p.code, substr, p.stdout(), p.stderr())
		case <-timer.C:
			t.Fatalf("kafkaesk %s did not write %q within %v\nstdout:\n%s\nstderr:\n%s",
				strings.Join(p.args, " "), substr, timeout, p.stdout(), p.stderr())
		}
	}
}

// signal sends sig to the process, failing the test if it has exited.
func (p *proc) signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %v to kafkaesk %s: %v", sig, strings.Join(p.args, " "), err)
	}
}

// wait waits for the process to exit and returns its exit code (-1 when
// a signal killed it). It fails the test, and kills the process, if it is
// still running after timeout.
func (p *proc) wait(timeout time.Duration) (code int) {
	p.t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		p.t.Fatalf("kafkaesk %s still running after %v; killed\nstdout:\n%s\nstderr:\n%s",
			strings.Join(p.args, " "), timeout, p.stdout(), p.stderr())
		return -1
	}
}

// outputBuffer collects a stream of output and tells waiters when it
// grows. It is safe for concurrent use.
type outputBuffer struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	notify chan struct{} // closed and replaced on every Write
}

func newOutputBuffer() *outputBuffer { return &outputBuffer{notify: make(chan struct{})} }

func (b *outputBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	close(b.notify)
	b.notify = make(chan struct{})
	return len(p), nil
}

func (b *outputBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// changed returns a channel closed at the next Write.
func (b *outputBuffer) changed() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.notify
}

// line returns the first line holding substr, without its newline; an
// unfinished last line counts only if final.
func (b *outputBuffer) line(substr string, final bool) (string, bool) {
	s := b.String()
	i := strings.Index(s, substr)
	if i < 0 {
		return "", false
	}
	start := strings.LastIndexByte(s[:i], '\n') + 1
	end := strings.IndexByte(s[i:], '\n')
	if end < 0 {
		return s[start:], final
	}
	return s[start : i+end], true
}
