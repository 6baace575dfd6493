package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/kafkaesk-go/kafkaesk/record"
)

// HTTPRequest is the log model of one handled request. Passed as an
// attribute of an ordinary slog call, its fields are merged into the Kafka
// log event ({"method":"GET","path":"/hello",...} next to "message") and
// appended to the console line ("request: method=GET, path=/hello, ...").
type HTTPRequest struct {
	record.Model
	Method     string  `json:"method"`
	Path       string  `json:"path"`
	Status     int     `json:"status"`
	DurationMS float64 `json:"duration_ms"`
	Bytes      int     `json:"bytes"`
	Remote     string  `json:"remote"`
}

// errPaymentUnavailable is what the pretend payment provider of /checkout
// always answers.
var errPaymentUnavailable = errors.New("payment provider unavailable")

// newServer returns the service's routes, each request logged to logger:
//
//	GET /hello?name=ana   200, a greeting
//	GET /orders/{id}      200 for ids 1 to 100, 404 (and a WARN) above
//	GET /checkout         503, and an ERROR with the error value
//	GET /healthz          200, logged at DEBUG only
//	GET /metrics          Prometheus metrics (when metrics is not nil), logged at DEBUG only
//	GET /asyncapi.json    the service's AsyncAPI document, and /asyncapi.yaml (when contract is not nil)
//	GET /docs             the document as a page to read (when contract is not nil)
func newServer(logger *slog.Logger, metrics, contract http.Handler) http.Handler {
	s := &server{logger: logger}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", s.hello)
	mux.HandleFunc("GET /orders/{id}", s.order)
	mux.HandleFunc("GET /checkout", s.checkout)
	mux.HandleFunc("GET /healthz", s.healthz)
	if metrics != nil {
		mux.Handle("GET /metrics", metrics)
	}
	if contract != nil {
		for _, path := range []string{"/asyncapi.json", "/asyncapi.yaml", "/docs"} {
			mux.Handle("GET "+path, contract)
		}
	}
	return logRequests(logger, mux)
}

type server struct {
	logger *slog.Logger
}

func (s *server) hello(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("name")
	if name == "" {
		name = "world"
	}
	fmt.Fprintf(w, "hello, %s\n", name)
}

// lastOrder is the highest order id that exists.
const lastOrder = 100

func (s *server) order(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil || id < 1 {
		http.Error(w, "the order id is a positive number", http.StatusBadRequest)
		return
	}
	if id > lastOrder {
		s.logger.WarnContext(r.Context(), "order not found", "order_id", id)
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"id": id, "status": "shipped"})
}

func (s *server) checkout(w http.ResponseWriter, r *http.Request) {
	err := fmt.Errorf("charge card: %w", errPaymentUnavailable)
	// An error value fills the event's "exception" and "stack" fields.
	s.logger.ErrorContext(r.Context(), "checkout failed", "err", err)
	http.Error(w, "checkout is unavailable, try again later", http.StatusServiceUnavailable)
}

func (s *server) healthz(w http.ResponseWriter, _ *http.Request) {
	fmt.Fprintln(w, "ok")
}

// logRequests logs one "request" line per request with an HTTPRequest
// model: at ERROR for a 5xx status, WARN for a 4xx, DEBUG for /healthz
// and /metrics (probes and scrapes would drown everything else) and INFO
// otherwise.
func logRequests(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &responseRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK // nothing written
		}
		level := slog.LevelInfo
		switch {
		case rec.status >= 500:
			level = slog.LevelError
		case rec.status >= 400:
			level = slog.LevelWarn
		case r.URL.Path == "/healthz", r.URL.Path == "/metrics":
			level = slog.LevelDebug
		}
		logger.Log(r.Context(), level, "request", "http", HTTPRequest{
			Method:     r.Method,
			Path:       r.URL.Path,
			Status:     rec.status,
			DurationMS: float64(time.Since(start).Microseconds()) / 1000,
			Bytes:      rec.bytes,
			Remote:     r.RemoteAddr,
		})
	})
}

// responseRecorder notes the status and the body size of a response.
type responseRecorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (w *responseRecorder) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *responseRecorder) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *responseRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }
