package record_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/kafkaesk-go/kafkaesk/core"
	"github.com/kafkaesk-go/kafkaesk/record"
)

// eventSchema compiles EventSchemaJSON as kafkaesk publish does.
func eventSchema(t testing.TB) *core.Schema {
	t.Helper()
	s, err := core.CompileSchema(core.SchemaOptions{ID: record.SchemaID, Version: 1}, []byte(record.EventSchemaJSON))
	if err != nil {
		t.Fatalf("compile EventSchemaJSON: %v", err)
	}
	return s
}

// decodes reports whether DecodeEvent accepts data as the data of a log
// event.
func decodes(data string) error {
	_, err := record.DecodeEvent([]byte(`{"schema":"PydanticLogModel:1","data":` + data + `}`))
	return err
}

// Every event an Encoder writes validates, whatever the level, the
// attributes, the log models and the host fields.
func TestEventSchemaAcceptsEncoderEvents(t *testing.T) {
	schema := eventSchema(t)
	type order struct {
		record.Model
		OrderID string  `json:"order_id"`
		Total   float64 `json:"total"`
	}
	var events [][]byte
	write := func(b []byte) error { events = append(events, append([]byte(nil), b...)); return nil }
	for _, opts := range []*record.Options{
		nil,
		{Logger: "orders", AddSource: true, Host: &record.Host{Hostname: "h-1", Service: "orders", Namespace: "prod", Cluster: "eu"}},
		{Host: &record.Host{}}, // null namespace and cluster
	} {
		h := record.NewHandler(write, slog.Level(-100), opts)
		ctx := context.Background()
		for _, r := range []slog.Record{
			slog.NewRecord(time.Date(2026, 2, 28, 23, 59, 59, 999999999, time.UTC), slog.LevelDebug, "debug", 0),
			slog.NewRecord(time.Date(2024, 2, 29, 1, 2, 3, 0, time.FixedZone("x", -5*3600)), slog.LevelInfo, "", 0),
			slog.NewRecord(time.Time{}, slog.LevelWarn, "no time", 0),
			slog.NewRecord(time.Unix(0, 1), slog.LevelError+4, "beyond critical", 0),
			slog.NewRecord(time.Now(), slog.Level(-8), "below debug", 0),
		} {
			r.Add("err", errors.New("boom"), slog.Group("req", "id", "r-1"), "level", "attr",
				"order", order{OrderID: "o-1", Total: 9.5}, "timestamp", "not a time", "n", 3)
			if err := h.Handle(ctx, r); err != nil {
				t.Fatal(err)
			}
			if err := h.WithGroup("g").WithAttrs([]slog.Attr{slog.Int("a", 1)}).Handle(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, ev := range events {
		env, err := core.DecodeEnvelope(ev)
		if err != nil {
			t.Fatalf("%v\n%s", err, ev)
		}
		if err := schema.Validate(env.Data); err != nil {
			t.Errorf("%v\n%s", err, ev)
		}
		if _, err := record.DecodeEvent(ev); err != nil {
			t.Errorf("DecodeEvent: %v\n%s", err, ev)
		}
	}
	if len(events) != 30 {
		t.Fatalf("encoded %d events, want 30", len(events))
	}
}

// The schema accepts exactly the data DecodeEvent accepts, apart from the
// two differences EventSchemaJSON documents, which are pinned here so that
// a change to either side shows.
func TestEventSchemaAgreesWithDecodeEvent(t *testing.T) {
	schema := eventSchema(t)
	for _, tt := range []struct {
		data string
		want bool // both accept
		gap  bool // the schema accepts, DecodeEvent refuses (documented)
	}{
		{data: `{}`, want: true},
		{data: `{"anything":[1,{"x":null}],"extra":true}`, want: true},
		{data: `[]`},
		{data: `"text"`},
		{data: `42`},
		{data: `true`},
		{data: `{"logger":"a","severity":"INFO","message":"m","exception":"E","trace":"t","stack":"s","hostname":"h","service":"s","namespace":"n","cluster":"c"}`, want: true},
		{data: `{"logger":null,"severity":null,"message":null,"exception":null,"trace":null,"stack":null,"hostname":null,"service":null,"namespace":null,"cluster":null,"level":null,"timestamp":null}`, want: true},
		{data: `{"message":"\u00e9\n\"q\""}`, want: true},
		{data: `{"message":1}`},
		{data: `{"message":true}`},
		{data: `{"message":{}}`},
		{data: `{"message":["m"]}`},
		{data: `{"logger":2}`},
		{data: `{"severity":false}`},
		{data: `{"exception":[]}`},
		{data: `{"trace":0}`},
		{data: `{"stack":{}}`},
		{data: `{"hostname":1.5}`},
		{data: `{"service":1}`},
		{data: `{"namespace":1}`},
		{data: `{"cluster":1}`},
		{data: `{"level":20}`, want: true},
		{data: `{"level":-5}`, want: true},
		{data: `{"level":0}`, want: true},
		{data: `{"level":-0}`, want: true},
		{data: `{"level":9223372036854775807}`, want: true, gap: strconv.IntSize < 64},
		{data: `{"level":-9223372036854775808}`, want: true, gap: strconv.IntSize < 64},
		{data: `{"level":9223372036854775808}`},
		{data: `{"level":-9223372036854775809}`},
		{data: `{"level":1e400}`},
		{data: `{"level":20.5}`},
		{data: `{"level":"20"}`},
		{data: `{"level":true}`},
		{data: `{"level":[20]}`},
		{data: `{"level":20.0}`, gap: true},
		{data: `{"level":2e1}`, gap: true},
		{data: `{"timestamp":""}`, want: true},
		{data: `{"timestamp":"2026-11-21T15:04:05.123456Z"}`, want: true},
		{data: `{"timestamp":"2026-11-21T15:04:05+01:00"}`, want: true},
		{data: `{"timestamp":"2026-11-21T15:04:05.123456"}`, want: true},
		{data: `{"timestamp":"2026-11-21T15:04:05"}`, want: true},
		{data: `{"timestamp":"2026-11-21 15:04:05"}`},
		{data: `{"timestamp":"2026-11-21"}`},
		{data: `{"timestamp":"yesterday"}`},
		{data: `{"timestamp":1732201445}`},
		{data: `{"timestamp":true}`},
		{data: `{"timestamp":{}}`},
		{data: `{"timestamp":"10000-01-01T00:00:00.000000Z"}`},
		{data: `{"message":"ok","timestamp":"2026-02-29T00:00:00Z"}`},
		{data: `{"level":"x","level":20}`, gap: true},
		{data: `{"level":20,"level":"x"}`},
		{data: `{"custom":"x","custom":1}`, want: true},
	} {
		t.Run(tt.data, func(t *testing.T) {
			verr := schema.Validate([]byte(tt.data))
			derr := decodes(tt.data)
			if tt.gap {
				if verr != nil || derr == nil {
					t.Fatalf("documented difference: want the schema to accept (got %v) and DecodeEvent to refuse (got %v)", verr, derr)
				}
				return
			}
			if (verr == nil) != tt.want || (derr == nil) != tt.want {
				t.Fatalf("schema: %v; DecodeEvent: %v; want both to accept: %v", verr, derr, tt.want)
			}
		})
	}
}

// The timestamp pattern spells out Go's time.Parse rules for both layouts
// DecodeEvent tries; this walks each part of a timestamp (the date, the
// clock, the fraction and zone) through values on both sides of every
// boundary and requires the same verdict from both.
func TestEventSchemaTimestampsAgreeWithDecodeEvent(t *testing.T) {
	schema := eventSchema(t)
	years := []string{"0000", "0004", "0100", "0400", "1900", "1996", "2000", "2023", "2024", "2100", "9999", "999", "10000", "-001", "+2024", "2O24"}
	months := []string{"00", "01", "02", "04", "06", "09", "11", "12", "13", "1", "001", "1a"}
	days := []string{"00", "01", "09", "10", "19", "28", "29", "30", "31", "32", "1", "001"}
	hours := []string{"0", "7", "00", "09", "10", "19", "20", "23", "24", "29", "007", "a"}
	minutes := []string{"00", "05", "59", "60", "5", "005"}
	seconds := []string{"00", "59", "60", "99", "5"}
	fractions := []string{"", ".", ",", ".0", ".123456", ",5", ".1234567890123", ".a", "..1", ".1.2"}
	zones := []string{"", "Z", "z", "+00:00", "-00:00", "+05:30", "-23:59", "+24:00", "-24:60", "+25:00", "+05:61", "+0530", "+05", "+5:30", "+05:30:00", "UTC", " Z", "Z "}
	var accepted, refused int
	check := func(ts string) {
		t.Helper()
		data := fmt.Sprintf(`{"timestamp":%q}`, ts) // ASCII only: %q is JSON here
		verr := schema.Validate([]byte(data))
		derr := decodes(data)
		switch {
		case (verr == nil) != (derr == nil):
			t.Errorf("timestamp %q: schema says %v, DecodeEvent says %v", ts, verr, derr)
		case verr == nil:
			accepted++
		default:
			refused++
		}
	}
	for _, y := range years {
		for _, m := range months {
			for _, d := range days {
				check(y + "-" + m + "-" + d + "T12:30:45Z")
			}
		}
	}
	for _, h := range hours {
		for _, mi := range minutes {
			for _, s := range seconds {
				for _, z := range []string{"", "Z"} {
					check("2024-02-29T" + h + ":" + mi + ":" + s + ".5" + z)
				}
			}
		}
	}
	for _, f := range fractions {
		for _, z := range zones {
			for _, clock := range []string{"7:05:09", "23:59:59"} {
				check("2000-02-29T" + clock + f + z)
			}
		}
	}
	for _, sep := range []string{"T", "t", " ", "_", ""} {
		check("2024-01-01" + sep + "00:00:00Z")
		check("2024-01-01" + sep + "00:00:00")
	}
	// Both verdicts must be common, or agreeing would prove little.
	if accepted < 300 || refused < 300 {
		t.Fatalf("accepted %d and refused %d timestamps; want at least 300 of each", accepted, refused)
	}
}

// FuzzEventSchemaTimestamp compares the pattern with DecodeEvent on any
// string; go test runs the seeds, go test -fuzz explores.
func FuzzEventSchemaTimestamp(f *testing.F) {
	schema := eventSchema(f)
	for _, s := range []string{"", "2026-11-21T15:04:05.123456Z", "2024-02-29T7:00:00,5+24:60", "2023-02-29T00:00:00", "0000-02-29T00:00:00Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ts string) {
		q, err := json.Marshal(ts)
		if err != nil {
			t.Fatal(err)
		}
		data := []byte(`{"timestamp":` + string(q) + `}`)
		verr := schema.Validate(data)
		derr := decodes(string(data))
		if (verr == nil) != (derr == nil) {
			t.Errorf("timestamp %q: schema says %v, DecodeEvent says %v", ts, verr, derr)
		}
	})
}
