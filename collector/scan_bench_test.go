package collector

import "testing"

// BenchmarkScanEnvelope times the validating scan of one log event, as
// sloghandler writes them, with the bytes in cache: the collector's own
// cost per event, without Kafka's.
func BenchmarkScanEnvelope(b *testing.B) {
	value := []byte(`{"schema":"PydanticLogModel:1","data":{"timestamp":"2026-11-21T10:00:00.123456Z",` +
		`"logger":"http","severity":"INFO","level":20,"message":"request handled","exception":null,"trace":null,"stack":null,` +
		`"hostname":"api-7d9f8-xk2p9","service":"api","namespace":null,"cluster":null,"method":"GET","path":"/orders/123456","status":200,"duration_ms":1.25}}`)
	var h head
	b.SetBytes(int64(len(value)))
	b.ReportAllocs()
	for b.Loop() {
		if err := scanEnvelope(value, &h); err != nil {
			b.Fatal(err)
		}
	}
}
