package record_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kafkaesk-go/kafkaesk/record"
)

func TestScanEventReadsWhatFiltersNeed(t *testing.T) {
	v := []byte(` {"data": {"level": 30, "logger":"api\u002ev1", "nested":{"level":99,"service":"no"},"service":"api-server","x":[1,-2.5e3,"s",true,false,null]}, "schema":"PydanticLogModel:1"} `)
	var ev record.EventView
	if err := record.ScanEvent(v, &ev); err != nil {
		t.Fatal(err)
	}
	if string(ev.Schema) != "PydanticLogModel:1" || ev.Level != 30 || string(ev.Logger) != "api.v1" || string(ev.Service) != "api-server" {
		t.Errorf("ScanEvent = schema %q level %d logger %q service %q", ev.Schema, ev.Level, ev.Logger, ev.Service)
	}
	if !bytes.HasPrefix(ev.Data, []byte(`{"level": 30`)) || !json.Valid(ev.Data) {
		t.Errorf("Data = %s", ev.Data)
	}
	var keys []string
	for _, m := range ev.AppendMembers(nil) {
		keys = append(keys, string(m.Key))
	}
	if want := []string{"level", "logger", "nested", "service", "x"}; !reflect.DeepEqual(keys, want) {
		t.Errorf("AppendMembers keys = %q, want %q", keys, want)
	}
}

// A view reused from one message to the next forgets the last one,
// including when the scan fails; a whole level only counts.
func TestScanEventReusesTheView(t *testing.T) {
	var ev record.EventView
	if err := record.ScanEvent([]byte(`{"schema":"PydanticLogModel:1","data":{"level":40,"logger":"a","service":"s","k":1}}`), &ev); err != nil {
		t.Fatal(err)
	}
	if err := record.ScanEvent([]byte(`{"schema":"PydanticLogModel:1","data":{"level":20.5}}`), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Level != 0 || ev.Logger != nil || ev.Service != nil || len(ev.AppendMembers(nil)) != 1 {
		t.Errorf("ScanEvent kept the last event: %+v", ev)
	}
	if err := record.ScanEvent([]byte(`{"schema":"PydanticLogModel:1","data":{"level":10}`), &ev); !errors.Is(err, record.ErrNotLogEvent) {
		t.Fatalf("truncated: %v", err)
	}
	if ev.Level != 0 || len(ev.AppendMembers(nil)) != 0 || ev.Data != nil {
		t.Errorf("a failed scan left %+v", ev)
	}
}

// When "data" is given twice the last counts, as in encoding/json.
func TestScanEventTwoDatas(t *testing.T) {
	e, err := record.DecodeEvent([]byte(`{"schema":"PydanticLogModel:1","data":{"a":1,"level":10},"data":{"b":2,"level":20}}`))
	if err != nil {
		t.Fatal(err)
	}
	if e.Level != 20 || !reflect.DeepEqual(e.Order, []string{"b"}) {
		t.Errorf("DecodeEvent = %+v", e)
	}
	// The view's fields come from the last "data" only, too.
	var ev record.EventView
	if err := record.ScanEvent([]byte(`{"schema":"PydanticLogModel:1","data":{"level":40,"logger":"a","service":"x"},"data":{"service":"s"}}`), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Level != 0 || ev.Logger != nil || string(ev.Service) != "s" || len(ev.AppendMembers(nil)) != 1 {
		t.Errorf("ScanEvent of two datas = level %d logger %q service %q", ev.Level, ev.Logger, ev.Service)
	}
}

// Scanning an event as sloghandler writes it allocates nothing once the
// view has grown.
func TestScanEventAllocs(t *testing.T) {
	if raceEnabled() {
		t.Skip("allocation counts differ under -race")
	}
	var ev record.EventView
	if n := testing.AllocsPerRun(100, func() {
		if err := record.ScanEvent(benchEvent, &ev); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("ScanEvent allocates %v times, want 0", n)
	}
}

var benchEvent = []byte(`{"schema":"PydanticLogModel:1","data":{"timestamp":"2026-11-21T10:00:00.123456Z",` +
	`"logger":"http","severity":"INFO","level":20,"message":"request handled","exception":null,"trace":null,"stack":null,` +
	`"hostname":"api-7d9f8-xk2p9","service":"api","namespace":null,"cluster":null,"method":"GET","path":"/orders/123456","status":200,"duration_ms":1.25}}`)

// decodeEventStd is DecodeEvent as it was written on encoding/json, the
// reference the scan is compared with. One difference is deliberate: the
// envelope's keys are matched exactly, as Python kafkaesk reads them, not
// regardless of case as encoding/json matches struct fields.
func decodeEventStd(value []byte) (*record.Event, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(value, &m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("null")
	}
	var env struct {
		Schema string
		Data   json.RawMessage
	}
	if err := json.Unmarshal(cmpOr(m["schema"], "null"), &env.Schema); err != nil {
		return nil, err
	}
	if d := m["data"]; string(d) != "null" {
		env.Data = d
	}
	if id, _, _ := strings.Cut(env.Schema, ":"); id != record.SchemaID {
		return nil, fmt.Errorf("schema %q", env.Schema)
	}
	if len(env.Data) == 0 || env.Data[0] != '{' {
		return nil, errors.New("data is not an object")
	}
	e := &record.Event{Schema: env.Schema}
	dec := json.NewDecoder(bytes.NewReader(env.Data))
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		k, _ := t.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, err
		}
		str := func(dst *string) error {
			if string(raw) == "null" {
				return nil
			}
			return json.Unmarshal(raw, dst)
		}
		switch k {
		case "timestamp":
			var s string
			if err := str(&s); err != nil {
				return nil, err
			}
			if s != "" {
				ts, err := time.Parse(time.RFC3339Nano, s)
				if err != nil {
					ts, err = time.ParseInLocation("2006-01-02T15:04:05.999999999", s, time.UTC)
				}
				if err != nil {
					return nil, err
				}
				e.Timestamp = ts
			}
		case "level":
			if string(raw) != "null" {
				if err := json.Unmarshal(raw, &e.Level); err != nil {
					return nil, err
				}
			}
		case "logger", "severity", "message", "exception", "trace", "stack", "hostname", "service", "namespace", "cluster":
			dst := map[string]*string{"logger": &e.Logger, "severity": &e.Severity, "message": &e.Message, "exception": &e.Exception,
				"trace": &e.Trace, "stack": &e.Stack, "hostname": &e.Hostname, "service": &e.Service, "namespace": &e.Namespace, "cluster": &e.Cluster}[k]
			if err := str(dst); err != nil {
				return nil, err
			}
		default:
			if e.Fields == nil {
				e.Fields = map[string]json.RawMessage{}
			}
			if _, dup := e.Fields[k]; !dup {
				e.Order = append(e.Order, k)
			}
			e.Fields[k] = raw
		}
	}
	return e, nil
}

func cmpOr(raw json.RawMessage, def string) []byte {
	if raw == nil {
		return []byte(def)
	}
	return raw
}

var eventCorpus = []string{
	string(benchEvent),
	`{"schema":"PydanticLogModel:1","data":{}}`, `{"schema":"PydanticLogModel:2","data":{"a":1,"b":2,"a":3,"message":null,"level":null}}`,
	`{"schema":"PydanticLogModel:1","data":{"message":"\u00e9\n\"q\" \ud83d\ude00 \ud83d","logger":"a\/b","x\u0041":{"y":[1]}}}`,
	`{"schema":"PydanticLogModel:1","data":{"level":-0,"timestamp":"2026-11-21T15:04:05","severity":"WARNING"}}`,
	`{"schema":"PydanticLogModel:1","data":{"level":9223372036854775807}}`, `{"schema":"PydanticLogModel:1","data":{"level":9223372036854775808}}`,
	`{"schema":"PydanticLogModel:1","data":{"level":-9223372036854775808}}`, `{"schema":"PydanticLogModel:1","data":{"level":1e2}}`,
	`{"schema":"PydanticLogModel:1","data":{"level":"INFO"}}`, `{"schema":"PydanticLogModel:1","data":{"message":{"a":1}}}`,
	`{"schema":"PydanticLogModel:1","data":{"timestamp":"yesterday"}}`, `{"schema":"PydanticLogModel:1","data":{"timestamp":""}}`,
	`{"schema":"PydanticLogModel:1","data":[{}]}`, `{"schema":"PydanticLogModel:1","data":null}`, `{"schema":"Foo:1","data":{}}`,
	`{"schema":"PydanticLogModel:1:x","data":{}}`, `{"schema":"PydanticLogModelX:1","data":{}}`, `{"data":{}}`,
	`{"schema":"PydanticLogModel:1","data":{"a":1},"data":{"b":2}}`, "{\"schema\":\"PydanticLogModel:1\",\"data\":{\"\xff\":\"\xfe\",\"message\":\"\xc3\"}}",
	`{"schema":"PydanticLogModel:1","data":{ "a" : [ 1 , 2 ] , "b" : { } }}`, `not json`, ``, `{"schema":"PydanticLogModel:1","data":{}}x`,
}

// DecodeEvent decodes what the encoding/json decoder did, and refuses
// what it refused.
func TestDecodeEventAgreesWithEncodingJSON(t *testing.T) {
	for _, v := range eventCorpus {
		compareDecode(t, []byte(v))
	}
}

func compareDecode(t *testing.T, v []byte) {
	t.Helper()
	got, err := record.DecodeEvent(v)
	want, stdErr := decodeEventStd(v)
	if (err == nil) != (stdErr == nil) {
		t.Fatalf("DecodeEvent(%q): %v; encoding/json: %v", v, err, stdErr)
	}
	if err != nil {
		if !errors.Is(err, record.ErrNotLogEvent) || got != nil {
			t.Fatalf("DecodeEvent(%q) = %v, %v; want nil and an error wrapping ErrNotLogEvent", v, got, err)
		}
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("DecodeEvent(%q)\n got %+v\nwant %+v", v, got, want)
	}
}

func FuzzDecodeEvent(f *testing.F) {
	for _, v := range eventCorpus {
		f.Add([]byte(v))
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		compareDecode(t, v)
		var ev record.EventView
		_ = record.ScanEvent(v, &ev) // never panics
	})
}
