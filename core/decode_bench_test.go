package core

import (
	"context"
	"testing"
	"time"
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
