package asyncapi_test

import (
	"context"
	"fmt"
	"slices"

	"github.com/kafkaesk-go/kafkaesk/asyncapi"
	"github.com/kafkaesk-go/kafkaesk/core"
)

// Shipment is what the example application publishes.
type Shipment struct {
	OrderID string `json:"order_id" jsonschema:"minLength=1"`
	Carrier string `json:"carrier" jsonschema:"enum=dhl,enum=ups"`
}

func ExampleBuild() {
	app, _ := core.New(core.Config{Brokers: []string{"kafka:9092"}, TopicPrefix: "prod."})
	defer app.Close(context.Background())
	core.Produces[Shipment](app, "shipments")
	core.Subscribe(app, "orders.*", "shipping", func(context.Context, *core.Message[[]byte]) error { return nil }, nil)

	doc, err := asyncapi.Build(app, &asyncapi.Options{Title: "shipping", Version: "1.2.0"})
	if err != nil {
		panic(err)
	}
	m := doc.Map()
	for _, kind := range []string{"channels", "operations"} {
		var names []string
		for name := range m[kind].(map[string]any) {
			names = append(names, name)
		}
		slices.Sort(names)
		fmt.Println(kind, names)
	}
	payload := m["components"].(map[string]any)["messages"].(map[string]any)["Shipment_v1"].(map[string]any)["payload"].(map[string]any)
	fmt.Println(payload["properties"].(map[string]any)["schema"].(map[string]any)["const"])
	// Output:
	// channels [orders._any_ shipments]
	// operations [receive.orders._any_.shipping send.shipments.Shipment_1]
	// Shipment:1
}
