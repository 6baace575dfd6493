package record

// EventSchemaJSON is the JSON Schema (draft 2020-12) of the data of a log
// event, kafkaesk's PydanticLogModel, at any version: what a validator
// checks before an event is published (kafkaesk publish --schema
// PydanticLogModel:1 compiles it with core.CompileSchema).
//
// Python's PydanticLogModel declares no fields and allows extra ones, so
// any object is a log event there. This schema is stricter in one way
// only: the base fields, when present, must have the types [DecodeEvent]
// reads them as, so that every event that validates also decodes.
//
//   - logger, severity, message, exception, trace, stack, hostname,
//     service, namespace, cluster: a string or null;
//   - level: an integer (of Go's int, 64 bits) or null;
//   - timestamp: null, "", or a string in RFC 3339 or in Python's naive
//     isoformat, as time.Parse reads them: the pattern spells out Go's
//     rules, day of the month and leap years included (4-digit years, a
//     one- or two-digit hour, "." or "," before any number of fractional
//     digits, a zone of Z or ±hh:mm up to +24:60).
//
// Every other key may hold any JSON value. Two differences with
// DecodeEvent remain, because JSON Schema sees values and not their
// spelling, and neither can come from an Encoder:
//
//   - level 1.0 or 1e1 is an integer to JSON Schema, but DecodeEvent
//     reads level as a Go int, which takes only integer literals;
//   - an object holding a key twice is validated on the last value,
//     as encoding/json decodes it, but DecodeEvent refuses the object if
//     any of the values is wrong.
//
// On a 32-bit platform, DecodeEvent also refuses levels beyond 32 bits.
const EventSchemaJSON = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "PydanticLogModel",
  "description": "A kafkaesk log event: any object; the base fields, when present, have the types the log event decoder reads.",
  "type": "object",
  "properties": {
    "timestamp": {
      "description": "When the event happened: RFC 3339, or Python's naive isoformat taken as UTC.",
      "type": ["string", "null"],
      "pattern": "` + timestampPattern + `"
    },
    "logger": {"$ref": "#/$defs/text"},
    "severity": {"$ref": "#/$defs/text"},
    "level": {
      "description": "Python's level number: 10 DEBUG, 20 INFO, 30 WARNING, 40 ERROR, 50 CRITICAL.",
      "type": ["integer", "null"],
      "minimum": -9223372036854775808,
      "maximum": 9223372036854775807
    },
    "message": {"$ref": "#/$defs/text"},
    "exception": {"$ref": "#/$defs/text"},
    "trace": {"$ref": "#/$defs/text"},
    "stack": {"$ref": "#/$defs/text"},
    "hostname": {"$ref": "#/$defs/text"},
    "service": {"$ref": "#/$defs/text"},
    "namespace": {"$ref": "#/$defs/text"},
    "cluster": {"$ref": "#/$defs/text"}
  },
  "$defs": {
    "text": {"type": ["string", "null"]}
  }
}`

// The timestamp pattern, piece by piece. It uses only [0-9] classes and
// (?:) groups, which RE2 and ECMA 262 read alike, so it needs no escaping
// in the JSON string.
const (
	// patternDate is yyyy-mm-dd with the day in range for the month;
	// February 29 only in leap years (divisible by 4, and by 400 for
	// centuries; year 0000 is one).
	patternDate = `(?:[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])` +
		`|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)` +
		`|02-(?:0[1-9]|1[0-9]|2[0-8]))` +
		`|(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)-02-29)`
	// patternTime is Thh:mm:ss with optional fractional seconds; Go's
	// parser takes a one-digit hour, and a comma for the point.
	patternTime = `T(?:[01]?[0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:[.,][0-9]+)?`
	// patternZone is RFC 3339's offset, optional for Python's isoformat;
	// Go allows offsets up to 24 hours and 60 minutes.
	patternZone = `(?:Z|[+-](?:[01][0-9]|2[0-4]):(?:[0-5][0-9]|60))?`

	timestampPattern = `^(?:` + patternDate + patternTime + patternZone + `)?$`
)
