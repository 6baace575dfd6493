package record_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
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

// viewStd is what ScanEvent should read, as encoding/json reads it.
type viewStd struct {
	Schema, Data             string
	Level                    int
	Logger, Service, TraceID *string
}

// scanEventStd is ScanEvent on encoding/json: the reference of the
// differential tests below. A string field is its text, or its content
// as in the message when it holds no escapes (ScanEvent does not
// replace invalid UTF-8 there).
func scanEventStd(value []byte) (viewStd, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(value, &m); err != nil {
		return viewStd{}, err
	}
	var v viewStd
	raw := m["schema"]
	if len(raw) == 0 || raw[0] != '"' {
		return viewStd{}, errors.New("no schema")
	}
	if err := json.Unmarshal(raw, &v.Schema); err != nil || v.Schema == "" {
		return viewStd{}, fmt.Errorf("schema: %v", err)
	}
	if id, _, _ := strings.Cut(v.Schema, ":"); id != record.SchemaID {
		return viewStd{}, fmt.Errorf("schema %q", v.Schema)
	}
	data := m["data"]
	if len(data) == 0 || data[0] != '{' {
		return viewStd{}, errors.New("data is not an object")
	}
	v.Data = string(data)
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil {
		return viewStd{}, err
	}
	text := func(raw json.RawMessage) *string {
		if raw[0] != '"' {
			return nil
		}
		s := string(raw[1 : len(raw)-1])
		if bytes.IndexByte(raw, '\\') >= 0 {
			s = ""
			_ = json.Unmarshal(raw, &s)
		}
		return &s
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return viewStd{}, err
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return viewStd{}, err
		}
		switch t {
		case "level":
			v.Level = 0
			if n, err := strconv.ParseInt(string(raw), 10, 0); err == nil {
				v.Level = int(n)
			}
		case "logger":
			v.Logger = text(raw)
		case "service":
			v.Service = text(raw)
		case record.TraceIDKey:
			v.TraceID = text(raw)
		}
	}
	return v, nil
}

// scanCorpus adds to eventCorpus what ScanEvent's fast path (schema
// first, keys without escapes) and its fallback tell apart.
var scanCorpus = append([]string{
	`{"schema": "PydanticLogModel:1", "data": {"level": 20, "logger": "api", "service": "s", "trace_id": "0af7651916cd43dd8448eb211c80319c"}}`,
	" \n{ \"schema\" :\t\"PydanticLogModel:1\" ,\r\n \"data\" : { \"level\" : 30 , \"message\" : \"m\" } } \n",
	`{"schema":"PydanticLogModel:1","data":{"level":10,"level":"x","logger":"a","logger":1,"service":"\u0073","trace_id":null}}`,
	`{"schema":"PydanticLogModel:1","data":{"lev\u0065l":40,"level":20}}`, `{"schema":"PydanticLogModel:1","data":{"level":20,"lev\u0065l":40}}`,
	`{"schema":"Pydantic\u004cogModel:1","data":{"level":20}}`, `{"schema":"PydanticLogModel:1","data":{"level":20},"schema":"Foo:1"}`,
	`{"schema":"PydanticLogModel:1","data":{"level":20},"other":[1,{"level":30}]}`, `{"schema":"PydanticLogModel:1","data":{"level":20}`,
	`{"schema":"PydanticLogModel:1","data":{"level":20}}}`, `{"schema":"PydanticLogModel:1","data":{"level":20,}}`,
	`{"schema":"PydanticLogModel:1","data":{"level":-20}}`, `{"schema":"PydanticLogModel:1","data":{"level":020}}`,
	`{"schema":"PydanticLogModel:1","data":{"level":2e1}}`, `{"schema":"PydanticLogModel:1","data":{"level":20.0}}`,
	`{"schema":"PydanticLogModel:1","data":{"x":{"level":30},"y":[[],{}],"logger":"l"}}`, `{"schema":"PydanticLogModel:1","data":{"x":[1,]}}`,
	`{"schema":"PydanticLogModel:1","data":{"service":"a` + "\x01" + `"}}`, `{"schema":"PydanticLogModel:1","data":{"service":"` + "\xff" + `"}}`,
	`{"schema":"PydanticLogModel:1","data":{"message":"` + strings.Repeat(`long \"quoted\" text `, 20) + `","service":"s"}}`,
	`{"schema":"PydanticLogModel:1","data":{"x":tru}}`, `{"schema":"PydanticLogModel:1","data":{"x":nul}}`, `{"schema":"PydanticLogModel:1","data":{"x":-}}`,
	`{"schema":"PydanticLogModel:1","data":{"x":1.}}`, `{"schema":"PydanticLogModel:1","data":{"x":"\u12"}}`, `{"schema":"PydanticLogModel:1","data":{"x" 1}}`,
	`{"schema":"PydanticLogModel:1","data":{"x":1 "y":2}}`, `{"schema":"PydanticLogModel:1" "data":{}}`, `{"schema":"PydanticLogModel:1","data"}`,
	`{"schema":"PydanticLogModel:1","data":{"x":` + strings.Repeat(`[`, 9998) + strings.Repeat(`]`, 9998) + `}}`,
	`{"schema":"PydanticLogModel:1","data":{"x":` + strings.Repeat(`[`, 9999) + strings.Repeat(`]`, 9999) + `}}`,
	`{"schema":"","data":{}}`, `{"schema":null,"data":{}}`, `{"schema":"PydanticLogModel","data":{}}`, `{"schema":"PydanticLogModel:1","data":"x"}`,
}, eventCorpus...)

// ScanEvent reads what encoding/json reads and refuses what it refuses,
// on both of its paths.
func TestScanEventAgreesWithEncodingJSON(t *testing.T) {
	for _, v := range scanCorpus {
		compareScan(t, []byte(v))
	}
}

func compareScan(t *testing.T, v []byte) {
	t.Helper()
	var ev record.EventView
	err := record.ScanEvent(v, &ev)
	want, stdErr := scanEventStd(v)
	if (err == nil) != (stdErr == nil) {
		t.Fatalf("ScanEvent(%.100q): %v; encoding/json: %v", v, err, stdErr)
	}
	if err != nil {
		if !errors.Is(err, record.ErrNotLogEvent) {
			t.Fatalf("ScanEvent(%.100q) = %v, want an error wrapping ErrNotLogEvent", v, err)
		}
		return
	}
	str := func(b []byte) *string {
		if b == nil {
			return nil
		}
		s := string(b)
		return &s
	}
	got := viewStd{string(ev.Schema), string(ev.Data), ev.Level, str(ev.Logger), str(ev.Service), str(ev.TraceID)}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ScanEvent(%.100q)\n got %s\nwant %s", v, fmtView(got), fmtView(want))
	}
}

func fmtView(v viewStd) string {
	s := func(p *string) string {
		if p == nil {
			return "nil"
		}
		return strconv.Quote(*p)
	}
	return fmt.Sprintf("schema %q level %d logger %s service %s trace_id %s data %.60q", v.Schema, v.Level, s(v.Logger), s(v.Service), s(v.TraceID), v.Data)
}

func FuzzScanEvent(f *testing.F) {
	for _, v := range scanCorpus {
		f.Add([]byte(v))
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		compareScan(t, v)
	})
}
