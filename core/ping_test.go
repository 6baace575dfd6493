package core_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkaesk-go/kafkaesk/core"
	"github.com/kafkaesk-go/kafkaesk/kafkaesktest"
)

// pingWithin is how long Ping may take to say what is wrong.
const pingWithin = 5 * time.Second

// pingWith pings brokers with settings (a --kafka-settings JSON object)
// and returns its error and how long it took.
func pingWith(t *testing.T, brokers []string, settings string) (error, time.Duration) {
	t.Helper()
	cfg := core.Config{Brokers: brokers, TopicPrefix: kafkaesktest.TopicPrefix(t)}
	require.NoError(t, cfg.ApplySettings([]byte(settings)))
	app, err := core.New(cfg)
	require.NoError(t, err)
	defer app.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	err = app.Ping(ctx)
	return err, time.Since(start)
}

// withSetting returns the settings JSON with key set to value (deleted
// when value is nil).
func withSetting(t *testing.T, settings, key string, value any) string {
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(settings), &m))
	if value == nil {
		delete(m, key)
	} else {
		m[key] = value
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// Every user of the SASL_SSL listener, and the client certificate on the
// mutual-TLS one, gets in.
func TestPingSecuredListeners(t *testing.T) {
	s := kafkaesktest.NewSecured(t)
	for _, u := range s.Users {
		err, _ := pingWith(t, s.SASLBrokers, s.Settings(u))
		assert.NoError(t, err, u.Mechanism)
	}
	err, _ := pingWith(t, s.MTLSBrokers, s.MTLSSettings())
	assert.NoError(t, err, "mutual TLS")
}

// Each way the settings can fail to match the broker is an error within
// seconds that names the broker and says what failed, wraps
// ErrMisconfigured, and never holds the password.
func TestPingSaysWhatIsMisconfigured(t *testing.T) {
	s := kafkaesktest.NewSecured(t)
	scram256, scram512 := s.Users[1], s.Users[2]
	sasl := s.SASLBrokers[0]
	_, port, _ := net.SplitHostPort(sasl)
	plain := kafkaesktest.Brokers(t)[0] // a plaintext listener

	wrongPassword := scram256
	wrongPassword.Password += "-wrong"
	unknownUser := scram256
	unknownUser.Username = "nobody-" + unknownUser.Username
	wrongMechanism := scram512
	wrongMechanism.Mechanism = "SCRAM-SHA-256"

	for _, tc := range []struct {
		name, broker, settings string
		want                   []string
	}{
		{"wrong password", sasl, s.Settings(wrongPassword),
			[]string{`authentication refused for user "` + scram256.Username + `" (SCRAM-SHA-256)`, "wrong user name or password"}},
		{"unknown user", sasl, s.Settings(unknownUser),
			[]string{`authentication refused for user "nobody-`}},
		{"wrong mechanism", sasl, s.Settings(wrongMechanism),
			[]string{`authentication refused for user "` + scram512.Username + `" (SCRAM-SHA-256)`, "no SCRAM-SHA-256 credentials"}},
		{"untrusted certificate", sasl, withSetting(t, s.Settings(scram256), "ssl_cafile", s.OtherCAFile),
			[]string{"TLS: the broker's certificate is not signed by a CA in ssl_cafile " + s.OtherCAFile}},
		{"hostname mismatch", "localhost:" + port, s.Settings(scram256),
			[]string{`TLS: the broker's certificate is not valid for the host "localhost" (it is valid for 127.0.0.1)`}},
		{"plaintext against TLS", sasl, withSetting(t, withSetting(t, s.Settings(scram256), "ssl_cafile", nil), "security_protocol", "SASL_PLAINTEXT"),
			[]string{"the port speaks TLS and the client does not: set security_protocol to SSL or SASL_SSL"}},
		{"TLS without SASL against SASL_SSL", sasl, withSetting(t, withSetting(t, withSetting(t, withSetting(t, s.Settings(scram256),
			"sasl_mechanism", nil), "sasl_plain_username", nil), "sasl_plain_password", nil), "security_protocol", "SSL"),
			[]string{"this listener requires SASL authentication"}},
		{"no client certificate", s.MTLSBrokers[0], withSetting(t, withSetting(t, s.MTLSSettings(), "ssl_certfile", nil), "ssl_keyfile", nil),
			[]string{"it requires a client certificate (mutual TLS): set ssl_certfile and ssl_keyfile"}},
		{"TLS against plaintext", plain, `{"security_protocol":"SSL"}`,
			[]string{"TLS: the port does not speak TLS, it answers Kafka requests in plaintext: set security_protocol to PLAINTEXT or SASL_PLAINTEXT"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err, took := pingWith(t, []string{tc.broker}, tc.settings)
			require.Error(t, err)
			assert.Less(t, took, pingWithin, "told within %v", pingWithin)
			assert.ErrorIs(t, err, core.ErrMisconfigured)
			var ce *core.ConnectionError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tc.broker, ce.Broker)
			assert.Contains(t, err.Error(), "broker "+tc.broker+": ")
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			for _, u := range s.Users {
				assert.NotContains(t, err.Error(), u.Password, "no password in the error")
			}
		})
	}
}

// A broker that is down is not a misconfiguration: the error says so,
// names it, and comes within the dial timeout.
func TestPingABrokerThatIsDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	l.Close()
	err, took := pingWith(t, []string{addr}, `{}`)
	require.Error(t, err)
	assert.Less(t, took, pingWithin)
	assert.False(t, errors.Is(err, core.ErrMisconfigured), "%v", err)
	assert.Contains(t, err.Error(), "broker "+addr+": cannot connect")
}

// With several bootstrap brokers, one that answers is enough; when none
// does, every one is named, the misconfigured first.
func TestPingTriesEveryBootstrapBroker(t *testing.T) {
	s := kafkaesktest.NewSecured(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	down := l.Addr().String()
	l.Close()
	good := s.Settings(s.Users[1])
	err, _ = pingWith(t, append([]string{down}, s.SASLBrokers...), good)
	assert.NoError(t, err, "the second broker answers")

	wrong := s.Users[1]
	wrong.Password += "-wrong"
	err, _ = pingWith(t, append([]string{down}, s.SASLBrokers...), s.Settings(wrong))
	require.Error(t, err)
	msg := err.Error()
	assert.Contains(t, msg, down)
	assert.Less(t, strings.Index(msg, "authentication refused"), strings.Index(msg, "broker "+down), "the misconfiguration first: %s", msg)
}

// A publish on misconfigured settings fails within seconds with what is
// wrong, rather than retrying until its deadline: the message was never
// sent, so it failed, and its outcome is not unknown.
func TestPublishOnMisconfiguredSettingsFailsFast(t *testing.T) {
	s := kafkaesktest.NewSecured(t)
	wrong := s.Users[1]
	wrong.Password += "-wrong"
	for _, tc := range []struct{ name, settings, want string }{
		{"wrong password", s.Settings(wrong), "authentication refused"},
		{"untrusted certificate", withSetting(t, s.Settings(s.Users[1]), "ssl_cafile", s.OtherCAFile), "is not signed by a CA in ssl_cafile"},
		{"plaintext against TLS", withSetting(t, withSetting(t, s.Settings(s.Users[1]), "ssl_cafile", nil), "security_protocol", "SASL_PLAINTEXT"), "the port speaks TLS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := core.Config{Brokers: s.SASLBrokers, TopicPrefix: kafkaesktest.TopicPrefix(t), Logger: slog.New(slog.DiscardHandler)}
			require.NoError(t, cfg.ApplySettings([]byte(tc.settings)))
			app, err := core.New(cfg)
			require.NoError(t, err)
			defer app.Close(context.Background())
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			start := time.Now()
			err = app.Publish(ctx, "orders", Foo{Bar: "1"})
			require.Error(t, err)
			assert.Less(t, time.Since(start), pingWithin, "failed within %v: %v", pingWithin, err)
			assert.ErrorIs(t, err, core.ErrMisconfigured)
			assert.NotErrorIs(t, err, core.ErrOutcomeUnknown)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), wrong.Password)

			closeStart := time.Now()
			cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer ccancel()
			app.Close(cctx)
			assert.Less(t, time.Since(closeStart), pingWithin, "Close does not hang on a misconfigured connection")
		})
	}
}

// A subscription on misconfigured settings makes Run return what is
// wrong within seconds, rather than waiting for topics forever.
func TestRunOnMisconfiguredSettingsFails(t *testing.T) {
	s := kafkaesktest.NewSecured(t)
	wrong := s.Users[2]
	wrong.Password += "-wrong"
	cfg := core.Config{Brokers: s.SASLBrokers, TopicPrefix: kafkaesktest.TopicPrefix(t), Logger: slog.New(slog.DiscardHandler)}
	require.NoError(t, cfg.ApplySettings([]byte(s.Settings(wrong))))
	app, err := core.New(cfg)
	require.NoError(t, err)
	defer app.Close(context.Background())
	core.MustRegister[Foo](app, nil)
	_, err = core.Subscribe(app, "orders", "g", func(context.Context, *core.Message[Foo]) error { return nil }, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	err = app.Run(ctx)
	require.Error(t, err)
	assert.Less(t, time.Since(start), pingWithin)
	assert.ErrorIs(t, err, core.ErrMisconfigured)
	assert.Contains(t, err.Error(), `kafkaesk: group g: broker `+s.SASLBrokers[0]+`: SASL: authentication refused for user "`+wrong.Username+`" (SCRAM-SHA-512)`)
}
