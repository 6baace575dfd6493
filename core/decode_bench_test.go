package core

import (
	"context"
	"reflect"
	"testing"
	"time"
	"unsafe"

	"github.com/segmentio/encoding/json"
)

// benchTimed is a consumed type with a time.Time, so that Python's
// datetimes may need the lenient decode.
type benchTimed struct {
	Service string    `json:"service"`
	Path    string    `json:"path"`
	Status  int       `json:"status"`
	At      time.Time `json:"at"`
	Tags    []string  `json:"tags"`
}

// BenchmarkDecode measures the typed decoder alone, per message: RFC 3339
// times (which decode at once), a field the type does not know, and a
// Python naive datetime (the second, lenient decode), each on an
// unregistered and a registered (validated) type.
//
//	go test -run '^$' -bench Decode -benchmem ./core/
func BenchmarkDecode(b *testing.B) {
	values := []struct{ name, value string }{
		{"rfc3339", `{"schema":"benchTimed:1","data":{"service":"api","path":"/v1/orders/12345","status":200,"at":"2026-12-05T12:00:00.123456Z","tags":["a","b"]}}`},
		{"unknown-field", `{"schema":"benchTimed:1","data":{"service":"api","path":"/v1/orders/12345","status":200,"at":"2026-12-05T12:00:00.123456Z","tags":["a","b"],"added":{"by":"python"}}}`},
		{"python-naive", `{"schema":"benchTimed:1","data":{"service":"api","path":"/v1/orders/12345","status":200,"at":"2026-12-05T12:00:00.123456","tags":["a","b"]}}`},
	}
	for _, registered := range []bool{false, true} {
		app, err := New(Config{Brokers: []string{"127.0.0.1:1"}})
		if err != nil {
			b.Fatal(err)
		}
		if registered {
			MustRegister[benchTimed](app, nil)
		}
		dec, err := newDecoder[benchTimed](&app.reg)
		if err != nil {
			b.Fatal(err)
		}
		for _, v := range values {
			name := "schema=none/" + v.name
			if registered {
				name = "schema=validated/" + v.name
			}
			b.Run(name, func(b *testing.B) {
				rec := &Record{Value: []byte(v.value)}
				b.ReportAllocs()
				for b.Loop() {
					var msg Message[benchTimed]
					if err := dec(app, rec, &msg); err != nil {
						b.Fatalf("does not decode: %v", err)
					}
				}
			})
		}
		app.Close(context.Background())
	}
}

// benchLineType is core_test's RequestLine, the consume benchmarks' type.
type benchLineType struct {
	Service  string   `json:"service"`
	Host     string   `json:"host"`
	Method   string   `json:"method"`
	Path     string   `json:"path"`
	Status   int      `json:"status"`
	Duration float64  `json:"duration_ms"`
	UserID   int64    `json:"user_id"`
	TraceID  string   `json:"trace_id"`
	Agent    string   `json:"user_agent"`
	Tags     []string `json:"tags"`
}

// BenchmarkDecodeEnvelope compares, on the consume benchmarks' envelope,
// the fast decoder with the JSON library's one pass (what the typed
// decoder did before it), and the envelope scan alone.
//
//	go test -run '^$' -bench DecodeEnvelope -benchmem ./core/
func BenchmarkDecodeEnvelope(b *testing.B) {
	value := []byte(`{"schema":"RequestLine:1","data":{"service":"checkout","host":"checkout-7d9f8-xk2p9","method":"POST","path":"/api/v1/orders/12345/items","status":201,"duration_ms":12.5,"user_id":987654321,"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","user_agent":"Mozilla/5.0 (X11; Linux x86_64) kafkaesk-bench/1.0","tags":["eu-west-1","canary","v2"]}}`)
	fast := newFastDecoder(reflect.TypeFor[benchLineType]())
	b.Run("decoder=fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var msg Message[benchLineType]
			if _, ok := fast.decodeEnvelope(value, unsafe.Pointer(&msg.Data)); !ok {
				b.Fatal("unsure")
			}
		}
	})
	b.Run("decoder=library", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var msg Message[benchLineType]
			var e struct {
				Schema string         `json:"schema"`
				Data   *benchLineType `json:"data"`
			}
			if err := json.Unmarshal(value, &e); err != nil {
				b.Fatal(err)
			}
			msg.Schema, msg.Data = e.Schema, *e.Data
		}
	})
	b.Run("decoder=scan-only", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var raw RawEnvelope
			if err := ScanEnvelope(value, &raw, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}
