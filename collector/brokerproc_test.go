package collector_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kafkaesk-go/kafkaesk/kafkaesktest"
)

// envServeBroker makes the test binary an embedded broker instead of
// running tests (see TestMain): BenchmarkCollectBrokerApart's other
// process.
const envServeBroker = "KAFKAESK_COLLECTOR_BENCH_BROKER"

// serveBroker runs an embedded broker until stdin ends. It writes the
// broker's address on stdout, then, for each line read from stdin, the
// CPU time the process has used so far, in nanoseconds.
func serveBroker() int {
	b, err := kafkaesktest.Start(nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer b.Close()
	fmt.Println(b.Addr())
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return 0
}

// brokerProcess is an embedded broker in a process of its own: this
// test binary, run with envServeBroker.
type brokerProcess struct {
	addr string
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Scanner
}

// startBrokerProcess starts a broker process, stopped when b ends.
func startBrokerProcess(b *testing.B) *brokerProcess {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), envServeBroker+"=1")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatalf("start the broker process: %v", err)
	}
	p := &brokerProcess{cmd: cmd, in: in, out: bufio.NewScanner(out)}
	b.Cleanup(func() {
		in.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				b.Errorf("broker process: %v", err)
			}
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
			b.Error("the broker process did not stop within 10s of its stdin's end; killed")
		}
	})
	if !p.out.Scan() {
		b.Fatalf("broker process: no address: %v", p.out.Err())
	}
	p.addr = strings.TrimSpace(p.out.Text())
	return p
}

// cpuTime returns the CPU time the broker process has used.
func (p *brokerProcess) cpuTime(b *testing.B) time.Duration {
	if _, err := io.WriteString(p.in, "cpu\n"); err != nil {
		b.Fatalf("broker process: %v", err)
	}
	if !p.out.Scan() {
		b.Fatalf("broker process: no CPU time: %v", p.out.Err())
	}
	ns, err := strconv.ParseInt(p.out.Text(), 10, 64)
	if err != nil {
		b.Fatalf("broker process: CPU time %q: %v", p.out.Text(), err)
	}
	return time.Duration(ns)
}
