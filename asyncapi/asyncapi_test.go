package asyncapi_test

import (
	"bytes"
	"context"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkaesk-go/kafkaesk/asyncapi"
	"github.com/kafkaesk-go/kafkaesk/asyncapi/asyncapitest"
	"github.com/kafkaesk-go/kafkaesk/core"
	"github.com/kafkaesk-go/kafkaesk/kafkaesktest"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// OrderV1 is an order as the first version of the schema had it.
type OrderV1 struct {
	ID    string `json:"id" jsonschema:"description=The order's id."`
	Total int    `json:"total" jsonschema:"minimum=0,description=Cents."`
}

// OrderV2 adds the lines.
type OrderV2 struct {
	ID    string `json:"id" jsonschema:"description=The order's id."`
	Lines []Line `json:"lines" jsonschema:"minItems=1"`
}

// Line is one line of an order.
type Line struct {
	SKU      string `json:"sku" jsonschema:"minLength=3,maxLength=32,pattern=^[A-Z0-9-]+$,description=Stock keeping unit."`
	Quantity int    `json:"quantity" jsonschema:"minimum=1,maximum=1000"`
}

// Refund is a refund of an order.
type Refund struct {
	OrderID string `json:"order_id"`
	Reason  string `json:"reason,omitempty" jsonschema:"enum=damaged,enum=late,enum=other"`
}

// smallApp is the application of the golden test: two schemas, one of
// them in two versions, a glob subscription, a publish declaration.
func smallApp(t *testing.T) *core.Application {
	t.Helper()
	app, err := core.New(core.Config{Brokers: []string{"kafka-1:9092", "kafka-2:9092"}, TopicPrefix: "shop."})
	require.NoError(t, err)
	t.Cleanup(func() { app.Close(context.Background()) })
	core.MustRegister[OrderV1](app, &core.SchemaOptions{ID: "Order", Version: 1})
	core.MustRegister[OrderV2](app, &core.SchemaOptions{ID: "Order", Version: 2, Streams: []string{"orders"}, Retention: 72 * time.Hour})
	core.MustRegister[Refund](app, nil)
	_, err = core.Produces[OrderV2](app, "orders")
	require.NoError(t, err)
	_, err = core.Subscribe(app, "orders.*", "billing", func(context.Context, *core.Message[Refund]) error { return nil }, nil)
	require.NoError(t, err)
	return app
}

func requireValid(t *testing.T, doc *asyncapi.Document) {
	t.Helper()
	require.NoError(t, asyncapitest.Validate(doc))
}

func TestSmallApplicationValidatesAndMatchesTheGolden(t *testing.T) {
	doc, err := asyncapi.Build(smallApp(t), &asyncapi.Options{Title: "shop", Version: "2.1.0", LogStreams: []string{"logs.shop"}})
	require.NoError(t, err)
	requireValid(t, doc)
	got, err := doc.JSON()
	require.NoError(t, err)
	golden := filepath.Join("testdata", "small-app.golden.json")
	if *update {
		require.NoError(t, os.WriteFile(golden, got, 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err, "go test ./asyncapi -update writes it")
	assert.Equal(t, string(want), string(got))

	again, err := asyncapi.Build(smallApp(t), &asyncapi.Options{Title: "shop", Version: "2.1.0", LogStreams: []string{"logs.shop"}})
	require.NoError(t, err)
	b2, _ := again.JSON()
	assert.True(t, bytes.Equal(got, b2), "deterministic")
}

// A schema's constraints (jsonschema tags) and its fields' descriptions
// are in the document.
func TestConstraintsAndDescriptionsShow(t *testing.T) {
	doc, err := asyncapi.Build(smallApp(t), nil)
	require.NoError(t, err)
	schemas := doc.Map()["components"].(map[string]any)["schemas"].(map[string]any)
	line := schemas["github.com.kafkaesk-go.kafkaesk.asyncapi_test.Line"].(map[string]any)["properties"].(map[string]any)
	assert.Equal(t, map[string]any{"type": "string", "minLength": 3.0, "maxLength": 32.0, "pattern": "^[A-Z0-9-]+$", "description": "Stock keeping unit."}, line["sku"])
	assert.Equal(t, map[string]any{"type": "integer", "minimum": 1.0, "maximum": 1000.0}, line["quantity"])
	refund := schemas["github.com.kafkaesk-go.kafkaesk.asyncapi_test.Refund"].(map[string]any)["properties"].(map[string]any)
	assert.Equal(t, []any{"damaged", "late", "other"}, refund["reason"].(map[string]any)["enum"])
	order := schemas["github.com.kafkaesk-go.kafkaesk.asyncapi_test.OrderV1"].(map[string]any)["properties"].(map[string]any)
	assert.Equal(t, "Cents.", order["total"].(map[string]any)["description"])
}

// The handler serves the JSON, the YAML and the page, and nothing else.
func TestHandlerServesTheDocumentAndThePage(t *testing.T) {
	doc, err := asyncapi.Build(smallApp(t), &asyncapi.Options{Title: "shop"})
	require.NoError(t, err)
	srv := httptest.NewServer(asyncapi.Handler(doc))
	defer srv.Close()
	get := func(path string) (int, string, string) {
		resp, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
	}
	code, ctype, body := get("/asyncapi.json")
	assert.Equal(t, 200, code)
	assert.Equal(t, "application/json", ctype)
	want, _ := doc.JSON()
	assert.Equal(t, string(want), body)
	code, _, body = get("/contract/asyncapi.yaml")
	assert.Equal(t, 200, code)
	assert.Contains(t, body, "asyncapi: 3.0.0\n")
	code, ctype, body = get("/docs")
	assert.Equal(t, 200, code)
	assert.Equal(t, "text/html; charset=utf-8", ctype)
	for _, s := range []string{"<title>shop 1.0.0: AsyncAPI</title>", `id="channels-orders"`, `id="components-messages-Order_v2"`,
		"billing", "&#34;schema&#34;: &#34;Order:2&#34;", `href="#components-messages-Refund_v1"`} {
		assert.Contains(t, body, s)
	}
	assert.NotRegexp(t, `(?i)<script|<link|https?://(?:cdn|fonts)`, body, "self-contained: no script, no stylesheet or font from the network")
	code, _, _ = get("/other")
	assert.Equal(t, 404, code)
}

// Servers carry the security the settings use (TLS, a SASL mechanism, a
// client certificate), and never a user name or password.
func TestServersShowTheSecurityWithoutSecrets(t *testing.T) {
	certs := kafkaesktest.TestCertificates(t)
	cfg := core.Config{Brokers: []string{"b1:9093"}}
	require.NoError(t, cfg.ApplySettings([]byte(`{"security_protocol":"SASL_SSL","sasl_mechanism":"SCRAM-SHA-512",
		"sasl_plain_username":"svc-user","sasl_plain_password":"svc-s3cret","ssl_cafile":"`+certs.CAFile+`",
		"ssl_certfile":"`+certs.ClientCertFile+`","ssl_keyfile":"`+certs.ClientKeyFile+`"}`)))
	app, err := core.New(cfg)
	require.NoError(t, err)
	defer app.Close(context.Background())
	doc, err := asyncapi.Build(app, nil)
	require.NoError(t, err)
	requireValid(t, doc)
	m := doc.Map()
	server := m["servers"].(map[string]any)["broker-1"].(map[string]any)
	assert.Equal(t, "kafka-secure", server["protocol"])
	schemes := m["components"].(map[string]any)["securitySchemes"].(map[string]any)
	assert.Equal(t, "scramSha512", schemes["sasl"].(map[string]any)["type"])
	assert.Equal(t, "X509", schemes["mutualTLS"].(map[string]any)["type"])
	for _, format := range []func() ([]byte, error){doc.JSON, doc.YAML, doc.HTML} {
		b, err := format()
		require.NoError(t, err)
		assert.NotContains(t, string(b), "svc-s3cret")
		assert.NotContains(t, string(b), "svc-user")
	}
}
