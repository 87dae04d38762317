package console

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Config says which cluster the console shows and how much one page may read.
type Config struct {
	// Brokers are the bootstrap servers, host:port each.
	Brokers []string
	// Name is the cluster's display name (kafka-ui's KAFKA_CLUSTERS_0_NAME); empty: "kafka".
	Name string
	// Logger gets the errors pages show and any handler's panic; nil: slog.Default().
	Logger *slog.Logger
	// MaxMessages bounds the messages browser's limit; 0: 500.
	MaxMessages int
	// FetchMaxBytes bounds what the messages browser fetches for one page; 0: 4 MiB.
	FetchMaxBytes int32
	// RequestTimeout bounds the cluster calls of one page; 0: 10 s.
	RequestTimeout time.Duration
	// ReadOnly hides every form that changes something and refuses every POST (403): a console
	// to look at a cluster with (kafka-ui's KAFKA_CLUSTERS_0_READONLY).
	ReadOnly bool
	// ClientOpts are extra franz-go options (SASL, TLS, a dialer) for every client the console
	// makes; they come after the console's own.
	ClientOpts []kgo.Opt
}

// Server is the console's HTTP handler. Its Kafka client connects lazily, so New succeeds while
// the cluster is still starting and the pages say what is wrong until it answers.
type Server struct {
	cfg     Config
	log     *slog.Logger
	cl      *kgo.Client
	adm     *kadm.Client
	pages   map[string]*template.Template
	handler http.Handler
	// secret keys the CSRF tokens; placeholder is what templates write where a token goes.
	secret, placeholder string
}

// New makes a console for the cluster cfg.Brokers name. Close it to close its client.
func New(cfg Config) (*Server, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("console: no bootstrap servers")
	}
	if cfg.Name == "" {
		cfg.Name = "kafka"
	}
	if cfg.MaxMessages <= 0 {
		cfg.MaxMessages = 500
	}
	if cfg.FetchMaxBytes <= 0 {
		cfg.FetchMaxBytes = 4 << 20
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 10 * time.Second
	}
	s := &Server{cfg: cfg, log: cfg.Logger, secret: newSecret(), placeholder: "csrf-" + newSecret()}
	if s.log == nil {
		s.log = slog.Default()
	}
	pages, err := parsePages(s.funcs())
	if err != nil {
		return nil, err
	}
	s.pages = pages
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID("minikraft-console"),
		kgo.RecordPartitioner(formPartitioner()),
		// The produce form waits for the answer; a form is one record, nothing to batch.
		kgo.ProducerLinger(0),
		// One failed page should say so, not retry for the client's default minute.
		kgo.RecordDeliveryTimeout(cfg.RequestTimeout),
	}, cfg.ClientOpts...)
	s.cl, err = kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	s.adm = kadm.NewClient(s.cl)
	s.handler = s.routes()
	return s, nil
}

// Close closes the console's Kafka client.
func (s *Server) Close() { s.cl.Close() }

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.Handle("GET /{$}", s.page(s.overview))
	mux.Handle("GET /topics", s.page(s.topics))
	mux.Handle("GET /create-topic", s.page(s.createTopicForm))
	mux.Handle("POST /create-topic", s.page(s.createTopic))
	mux.Handle("GET /topics/{name}", s.page(s.topic))
	mux.Handle("POST /topics/{name}/configs", s.page(s.alterConfig))
	mux.Handle("POST /topics/{name}/partitions", s.page(s.addPartitions))
	mux.Handle("POST /topics/{name}/delete", s.page(s.deleteTopic))
	mux.Handle("GET /topics/{name}/messages", s.page(s.messages))
	mux.Handle("GET /topics/{name}/tail", http.HandlerFunc(s.tail))
	mux.Handle("GET /topics/{name}/produce", s.page(s.produceForm))
	mux.Handle("POST /topics/{name}/produce", s.page(s.produce))
	mux.Handle("GET /groups", s.page(s.groups))
	// Group names are any string, slashes included: the rest of the path is the name.
	mux.Handle("GET /groups/{name...}", s.page(s.group))
	mux.Handle("POST /groups/{name...}", s.page(s.changeGroup))
	mux.Handle("/", s.page(func(*http.Request) (*view, error) {
		return nil, httpError{http.StatusNotFound, "no such page"}
	}))
	// A form posted from another site (CSRF) is refused: browsers send Sec-Fetch-Site or
	// Origin with every POST, and a cross-origin one gets 403 before any handler runs.
	// Then every POST needs the token tied to the browser's cookie, and read-only mode refuses
	// them all (guard, security.go).
	return securityHeaders(http.NewCrossOriginProtection().Handler(s.guard(mux)))
}

// securityHeaders keeps pages inert even if something escaped the templates: scripts, styles
// and form targets only from the console itself, no framing, no content sniffing.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		h.ServeHTTP(w, r)
	})
}

// view is what a handler gives the layout: the page's template, its title, its data, and an
// HTTP status (200 when zero). A redirect is a view with Redirect set.
type view struct {
	Template string
	Title    string
	Status   int
	Data     any
	Redirect string
	// Error is shown at the top of the page (a change the cluster refused, with the page as it
	// is now below it); Done says what a change did.
	Error, Done string
}

// layoutData is what templates/layout.html sees.
type layoutData struct {
	Cluster string
	Brokers string
	Title   string
	Nav     string
	Error   string
	Done    string
	Data    any
}

// httpError is an error a handler means for the user, with its status.
type httpError struct {
	status int
	msg    string
}

func (e httpError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return httpError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// page adapts a handler: a bounded context, the error page for an error (Kafka's error name in
// it, the status from httpError or 502 for a cluster error), and a 500 without a stack for a
// panic.
func (s *Server) page(h func(*http.Request) (*view, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("console: handler panicked", "path", r.URL.Path, "panic", fmt.Sprint(p))
				s.renderError(w, r, http.StatusInternalServerError, "internal error: the console failed on this page (see its log)")
			}
		}()
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
		defer cancel()
		r = r.WithContext(ctx)
		v, err := h(r)
		if err != nil {
			status := http.StatusBadGateway
			var he httpError
			if errors.As(err, &he) {
				status = he.status
			} else {
				s.log.Warn("console: cluster call failed", "path", r.URL.Path, "err", err)
			}
			s.renderError(w, r, status, errorText(err))
			return
		}
		if v.Redirect != "" {
			http.Redirect(w, r, v.Redirect, http.StatusSeeOther)
			return
		}
		s.render(w, r, v, v.Error)
	})
}

// errorText is what a page says about err: Kafka's error name and message for a Kafka error,
// a plain sentence for a timeout.
func errorText(err error) string {
	var ke *kerr.Error
	switch {
	case errors.As(err, &ke):
		return ke.Message + ": " + ke.Description
	case errors.Is(err, context.DeadlineExceeded):
		return "the cluster did not answer in time (" + err.Error() + ")"
	}
	return err.Error()
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, v *view, errMsg string) {
	t, ok := s.pages[v.Template]
	if !ok {
		panic("console: no template " + v.Template)
	}
	var buf strings.Builder
	ld := layoutData{Cluster: s.cfg.Name, Brokers: strings.Join(s.cfg.Brokers, ","), Title: v.Title, Nav: navOf(r.URL.Path), Error: errMsg, Done: v.Done, Data: v.Data}
	if err := t.ExecuteTemplate(&buf, "layout", ld); err != nil {
		s.log.Error("console: template failed", "template", v.Template, "err", err)
		http.Error(w, "internal error: a page template failed (see the console's log)", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if v.Status != 0 {
		w.WriteHeader(v.Status)
	}
	w.Write([]byte(s.fillToken(r, buf.String())))
}

func (s *Server) renderError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	s.render(w, r, &view{Template: "error", Title: http.StatusText(status), Status: status}, msg)
}

func navOf(path string) string {
	switch {
	case strings.HasPrefix(path, "/topics"), path == "/create-topic":
		return "topics"
	case strings.HasPrefix(path, "/groups"):
		return "groups"
	}
	return "overview"
}

// parsePages parses each page template with the layout: templates/layout.html defines
// "layout", which calls "content", which each page file defines.
func parsePages(funcs template.FuncMap) (map[string]*template.Template, error) {
	base, err := template.New("base").Funcs(funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(templateFS, n)
		if err != nil {
			return nil, err
		}
		pages[name] = t
	}
	return pages, nil
}

// funcs are the templates' functions: the shared ones and the server's own, "readOnly" (hide
// the forms that change something) and "csrf" (a form's hidden token field; render fills it in).
func (s *Server) funcs() template.FuncMap {
	fm := template.FuncMap{
		"readOnly": func() bool { return s.cfg.ReadOnly },
		"csrf": func() template.HTML {
			return template.HTML(`<input type="hidden" name="csrf" value="` + s.placeholder + `">`)
		},
		"csrfToken": func() string { return s.placeholder },
	}
	for k, v := range funcs {
		fm[k] = v
	}
	return fm
}

var funcs = template.FuncMap{
	"list":    func(xs ...string) []string { return xs },
	"pathEsc": url.PathEscape,
	"bytes":   humanBytes,
	"join": func(xs []int32) string {
		var b strings.Builder
		for i, x := range xs {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprint(&b, x)
		}
		return b.String()
	},
	"time": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05.000Z")
	},
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
