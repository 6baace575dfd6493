package main

// The commands on secured listeners: a SASL_SSL listener with a user of
// each mechanism and a mutual-TLS listener, embedded (kfake with
// certificates made for the test) or the real cluster's that
// scripts/kafka-local starts with KAFKA_SECURITY=1 (kafkaesktest.NewSecured).

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkaesk-go/kafkaesk/kafkaesktest"
)

// securedEnv is one test's secured listeners and topic prefix.
type securedEnv struct {
	*kafkaesktest.Secured
	prefix string
	dir    string
}

func newSecuredEnv(t *testing.T) *securedEnv {
	return &securedEnv{Secured: kafkaesktest.NewSecured(t), prefix: kafkaesktest.TopicPrefix(t), dir: t.TempDir()}
}

// sasl returns cmd's flags for the SASL_SSL listener as user, then more.
func (e *securedEnv) sasl(cmd string, user kafkaesktest.SASL, more ...string) []string {
	return append([]string{cmd, "--kafka-servers", strings.Join(e.SASLBrokers, ","), "--topic-prefix", e.prefix,
		"--kafka-settings", e.Settings(user)}, more...)
}

// mtls returns cmd's flags for the mutual-TLS listener, then more.
func (e *securedEnv) mtls(cmd string, more ...string) []string {
	return append([]string{cmd, "--kafka-servers", strings.Join(e.MTLSBrokers, ","), "--topic-prefix", e.prefix,
		"--kafka-settings", e.MTLSSettings()}, more...)
}

// logLines returns log events from..to-1, a line each, for publish's stdin.
func logLines(from, to int) string {
	var b strings.Builder
	for i := from; i < to; i++ {
		b.WriteString(logLine(i) + "\n")
	}
	return b.String()
}

// changeSettings returns the settings JSON with changes made: a nil
// value deletes its key.
func changeSettings(t *testing.T, settings string, changes map[string]any) string {
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(settings), &m))
	for k, v := range changes {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	b, err := json.Marshal(m)
	require.NoError(t, err)
	return string(b)
}

// freeAddr returns a loopback address no one listens on.
func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

// Over SASL_SSL, as each mechanism's user: publish creates the stream's
// topic and publishes; tail prints it with and without --exit; collect
// writes it to a file and commits, so that a second collect of the group
// writes only what came after; bench runs on it.
func TestSecuredCommandsEndToEnd(t *testing.T) {
	e := newSecuredEnv(t)
	plain, scram256, scram512 := e.Users[0], e.Users[1], e.Users[2]

	_, stderr, code := runKafkaesk(t, logLines(0, 50), e.sasl("publish", scram512, "--stream", "logs.api", "--schema", "PydanticLogModel:1")...)
	require.Equal(t, 0, code, stderr)

	stdout, stderr, code := runKafkaesk(t, "", e.sasl("tail", scram256, "logs.*", "--from-beginning", "--exit", "--format", "json")...)
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, seqRange(0, 50), jsonSeqs(t, stdout), "tail --exit prints every event")

	live := startKafkaesk(t, e.sasl("tail", plain, "logs.api", "--from-beginning")...)
	live.waitOutput(t, "event 49 ", 60*time.Second)
	live.signal(os.Interrupt)
	assert.Equal(t, 0, live.wait(30*time.Second), live.stderr())

	group := e.prefix + "collect"
	first := filepath.Join(e.dir, "first.jsonl")
	p := startKafkaesk(t, e.sasl("collect", plain, "--pattern", "logs.*", "--group", group, "--http", "", "--output", "jsonl:"+first)...)
	waitSeqs(t, first, 50)
	p.signal(os.Interrupt)
	require.Equal(t, 0, p.wait(60*time.Second), p.stderr())

	_, stderr, code = runKafkaesk(t, logLines(50, 60), e.sasl("publish", scram256, "--stream", "logs.api", "--schema", "PydanticLogModel:1")...)
	require.Equal(t, 0, code, stderr)
	second := filepath.Join(e.dir, "second.jsonl")
	p = startKafkaesk(t, e.sasl("collect", scram512, "--pattern", "logs.*", "--group", group, "--http", "", "--output", "jsonl:"+second)...)
	waitSeqs(t, second, 10)
	p.signal(os.Interrupt)
	require.Equal(t, 0, p.wait(60*time.Second), p.stderr())
	got := fileSeqs(t, second)
	for i := 50; i < 60; i++ {
		assert.Equal(t, 1, got[i], "seq %d once", i)
	}
	assert.Len(t, got, 10, "the first collect committed what it wrote")

	stdout, stderr, code = runKafkaesk(t, "", e.sasl("bench", scram256, "--duration", "1s", "--goroutines", "2", "--rate", "2000", "--json", "--stream", "bench.sec")...)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, `"dropped":0`)
	assert.NotContains(t, stdout, `"acknowledged":0,`)
}

// With a client certificate on the mutual-TLS listener, publish and
// tail --exit work.
func TestSecuredMutualTLSCommands(t *testing.T) {
	e := newSecuredEnv(t)
	_, stderr, code := runKafkaesk(t, logLines(0, 20), e.mtls("publish", "--stream", "logs.mtls", "--schema", "PydanticLogModel:1")...)
	require.Equal(t, 0, code, stderr)
	stdout, stderr, code := runKafkaesk(t, "", e.mtls("tail", "logs.mtls", "--from-beginning", "--exit", "--format", "json")...)
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, seqRange(0, 20), jsonSeqs(t, stdout))
}

// A refused password, an unknown user, a mechanism the user has no
// credentials for, an untrusted CA, a hostname mismatch, plaintext against
// the TLS port: every command exits 1 within seconds, naming the broker
// and what failed, without the password.
func TestSecuredCommandErrorsAreClearAndQuick(t *testing.T) {
	e := newSecuredEnv(t)
	wrong := e.Users[1]
	wrong.Password += "-wrong"
	broker := e.SASLBrokers[0]
	untrusted := strings.Replace(e.Settings(e.Users[1]), e.CAFile, e.OtherCAFile, 1)
	plaintext := changeSettings(t, e.Settings(e.Users[1]), map[string]any{"security_protocol": "SASL_PLAINTEXT", "ssl_cafile": nil})
	unknown := e.Users[1]
	unknown.Username = "nobody"
	mechanism := e.Users[2]
	mechanism.Mechanism = "SCRAM-SHA-256"
	_, port, _ := net.SplitHostPort(broker)
	for _, s := range []struct{ name, broker, settings, want string }{
		{"wrong password", broker, e.Settings(wrong), `SASL: authentication refused for user "` + wrong.Username + `" (SCRAM-SHA-256)`},
		{"unknown user", broker, e.Settings(unknown), `SASL: authentication refused for user "nobody" (SCRAM-SHA-256)`},
		{"wrong mechanism", broker, e.Settings(mechanism), `SASL: authentication refused for user "` + mechanism.Username + `" (SCRAM-SHA-256)`},
		{"untrusted CA", broker, untrusted, "TLS: the broker's certificate is not signed by a CA in ssl_cafile " + e.OtherCAFile},
		{"hostname mismatch", "localhost:" + port, e.Settings(e.Users[1]), `TLS: the broker's certificate is not valid for the host "localhost"`},
		{"plaintext against TLS", broker, plaintext, "the port speaks TLS and the client does not"},
	} {
		for _, cmd := range [][]string{
			{"publish", "--stream", "logs.x"},
			{"tail", "logs.*", "--exit"},
			{"tail", "logs.*"},
			{"collect", "--pattern", "logs.*", "--group", "g", "--http", ""},
			{"bench", "--duration", "1s"},
		} {
			t.Run(s.name+"/"+strings.Join(cmd[:1], ""), func(t *testing.T) {
				args := append([]string{cmd[0], "--kafka-servers", s.broker, "--topic-prefix", e.prefix, "--kafka-settings", s.settings}, cmd[1:]...)
				start := time.Now()
				_, stderr, code := runKafkaesk(t, logLines(0, 1), args...)
				took := time.Since(start)
				assert.Equal(t, 1, code, stderr)
				assert.Less(t, took, 6*time.Second, "the ping's 5s, and the process's start")
				assert.Contains(t, stderr, "broker "+s.broker+": "+s.want)
				for _, u := range e.Users {
					assert.NotContains(t, stderr, u.Password)
				}
			})
		}
	}
}

// No password given in --kafka-settings or its environment variable
// shows in any output of any command: help, a malformed setting, a
// refused and an accepted connection, debug logs, the collector's
// metrics.
func TestSecretsNeverLeak(t *testing.T) {
	e := newSecuredEnv(t)
	user := e.Users[2]
	secret := user.Password
	wrong := user
	wrong.Password = "wrong-" + secret
	var outputs []string
	keep := func(stdout, stderr string) { outputs = append(outputs, stdout, stderr) }

	t.Setenv("KAFKAESK_KAFKA_SETTINGS", e.Settings(user))
	for _, cmd := range []string{"publish", "tail", "collect", "bench", "broker"} {
		stdout, stderr, _ := runKafkaesk(t, "", cmd, "--help")
		keep(stdout, stderr)
	}
	stdout, stderr, code := runKafkaesk(t, "", "publish", "--stream", "x", "--kafka-settings", `{"sasl_plain_password":`+secret+`}`)
	assert.Equal(t, 2, code)
	keep(stdout, stderr)
	stdout, stderr, code = runKafkaesk(t, "", "publish", "--stream", "x", "--kafka-settings", `{"sasl_plain_password":"`+secret+`","bogus":1}`)
	assert.Equal(t, 2, code)
	keep(stdout, stderr)
	t.Setenv("KAFKAESK_KAFKA_SETTINGS", `{"sasl_plain_password":"`+secret+`","security_protocol":"nope"}`)
	stdout, stderr, code = runKafkaesk(t, "", "publish", "--stream", "x", "--kafka-servers", e.SASLBrokers[0])
	assert.Equal(t, 2, code)
	keep(stdout, stderr)
	os.Unsetenv("KAFKAESK_KAFKA_SETTINGS")

	for _, u := range []kafkaesktest.SASL{user, wrong} {
		stdout, stderr, _ = runKafkaesk(t, logLines(0, 5), e.sasl("publish", u, "--stream", "logs.s", "--schema", "PydanticLogModel:1", "--log-level", "debug")...)
		keep(stdout, stderr)
		stdout, stderr, _ = runKafkaesk(t, "", e.sasl("tail", u, "logs.*", "--from-beginning", "--exit", "--log-level", "debug")...)
		keep(stdout, stderr)
		stdout, stderr, _ = runKafkaesk(t, "", e.sasl("bench", u, "--duration", "500ms", "--rate", "1000", "--log-level", "debug")...)
		keep(stdout, stderr)
	}
	addr := freeAddr(t)
	p := startKafkaesk(t, e.sasl("collect", user, "--pattern", "logs.*", "--group", e.prefix+"g", "--http", addr, "--log-level", "debug",
		"--output", "jsonl:"+filepath.Join(e.dir, "out.jsonl"))...)
	p.waitOutput(t, "collecting logs.*", 60*time.Second)
	for _, path := range []string{"/metrics", "/healthz", "/readyz"} {
		resp, err := http.Get(fmt.Sprintf("http://%s%s", addr, path))
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		outputs = append(outputs, string(body))
	}
	p.signal(os.Interrupt)
	assert.Equal(t, 0, p.wait(60*time.Second), p.stderr())
	keep(p.stdout(), p.stderr())

	all := strings.Join(outputs, "\n")
	assert.Contains(t, all, "kafka-settings", "the outputs were captured")
	assert.NotContains(t, all, secret, "the password shows nowhere")
}
