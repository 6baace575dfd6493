package asyncapi

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"
)

//go:embed page.html.tmpl
var pageTemplate string

var page = template.Must(template.New("page").Funcs(template.FuncMap{
	"json":   prettyJSON,
	"anchor": anchor,
}).Parse(pageTemplate))

// HTML returns the document as a page to read: servers, channels,
// operations and messages, each message's envelope by example and its
// schemas. The page is self-contained (its style inline, no script, no
// font or file from the network), so that it works offline.
func (d *Document) HTML() ([]byte, error) {
	m := d.Map()
	view := pageView{Doc: m}
	info, _ := m["info"].(map[string]any)
	view.Title, _ = info["title"].(string)
	view.Version, _ = info["version"].(string)
	view.Description, _ = info["description"].(string)
	view.Servers = entries(m["servers"])
	view.Channels = entries(m["channels"])
	view.Operations = entries(m["operations"])
	comps, _ := m["components"].(map[string]any)
	view.Messages = entries(comps["messages"])
	view.Schemas = entries(comps["schemas"])
	var buf bytes.Buffer
	if err := page.Execute(&buf, view); err != nil {
		return nil, fmt.Errorf("asyncapi: page: %w", err)
	}
	return buf.Bytes(), nil
}

type pageView struct {
	Doc                           map[string]any
	Title, Version, Description   string
	Servers, Channels, Operations []entry
	Messages, Schemas             []entry
}

// entry is one member of an object of the document, its fields decoded.
type entry struct {
	Name string
	V    map[string]any
}

// entries returns the members of an object, by name.
func entries(v any) []entry {
	m, _ := v.(map[string]any)
	out := make([]entry, 0, len(m))
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}) {
		o, _ := m[k].(map[string]any)
		out = append(out, entry{Name: k, V: o})
	}
	return out
}

func prettyJSON(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// anchor turns a "$ref" of the document into the id of its section on
// the page: "#/components/messages/Order_v1" → "components-messages-Order_v1".
func anchor(ref any) string {
	s, _ := ref.(string)
	return strings.ReplaceAll(strings.TrimPrefix(s, "#/"), "/", "-")
}

// Handler serves doc: GET …/asyncapi.json, …/asyncapi.yaml, and …/docs
// (the page), wherever it is mounted; anything else is 404. The bodies
// are made once.
func Handler(doc *Document) http.Handler {
	type body struct {
		contentType string
		b           []byte
		err         error
	}
	j, jerr := doc.JSON()
	y, yerr := doc.YAML()
	h, herr := doc.HTML()
	bodies := map[string]body{
		"asyncapi.json": {"application/json", j, jerr},
		"asyncapi.yaml": {"application/yaml", y, yerr},
		"docs":          {"text/html; charset=utf-8", h, herr},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
		b, ok := bodies[name]
		switch {
		case !ok:
			http.NotFound(w, r)
		case r.Method != http.MethodGet && r.Method != http.MethodHead:
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		case b.err != nil:
			http.Error(w, b.err.Error(), http.StatusInternalServerError)
		default:
			w.Header().Set("Content-Type", b.contentType)
			_, _ = w.Write(b.b)
		}
	})
}
