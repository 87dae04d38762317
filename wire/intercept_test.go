package wire

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// answerWith is an Interceptor that answers Metadata itself, naming topic, without the handler.
func answerWith(topic string) Interceptor {
	return func(_ context.Context, r *Request, _ HandlerFunc) Future {
		resp := r.Msg.ResponseKind().(*kmsg.MetadataResponse)
		t := kmsg.NewMetadataResponseTopic()
		t.Topic = kmsg.StringPtr(topic)
		resp.Topics = append(resp.Topics, t)
		return Done(resp, nil)
	}
}

// metadataOnce sends one Metadata request for topic and returns the topics of the answer.
func metadataOnce(t *testing.T, c *client, topic string) []string {
	t.Helper()
	c.send(metadataReq(topic), 9)
	_, resp := c.recv(3, 9)
	return topicsOf(t, resp)
}

// TestInterceptAnswersCountsDownAndRemoves: an interceptor for n requests answers exactly the
// next n of its key, leaving other keys and later requests to the handlers; one installed for
// every request stays until removed; removing twice is harmless.
func TestInterceptAnswersCountsDownAndRemoves(t *testing.T) {
	s := startServer(t, ServerConfig{})
	c := dial(t, s.addr)
	s.mux.Intercept(3, 2, answerWith("injected"))
	for i := range 2 {
		if got := metadataOnce(t, c, "a"); !slices.Equal(got, []string{"injected"}) {
			t.Fatalf("request %d answered %v, want the interceptor's answer", i, got)
		}
	}
	if got := metadataOnce(t, c, "a"); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("third request answered %v, want the handler's", got)
	}
	if got := s.th.seen(); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("handler saw %v, want only the third request", got)
	}

	remove := s.mux.Intercept(3, 0, answerWith("always"))
	for range 3 {
		if got := metadataOnce(t, c, "b"); !slices.Equal(got, []string{"always"}) {
			t.Fatalf("answered %v, want the interceptor's answer", got)
		}
	}
	// Another key is untouched.
	c.send(kmsg.NewPtrApiVersionsRequest(), 3)
	if _, resp := c.recv(18, 3); len(resp.(*kmsg.ApiVersionsResponse).ApiKeys) == 0 {
		t.Fatal("ApiVersions went through the Metadata interceptor")
	}
	remove()
	remove()
	if got := metadataOnce(t, c, "c"); !slices.Equal(got, []string{"c"}) {
		t.Fatalf("after remove answered %v, want the handler's", got)
	}
	s.mux.mu.RLock()
	defer s.mux.mu.RUnlock()
	if len(s.mux.chains) != 0 {
		t.Fatalf("chains left after every interceptor went: %v", s.mux.chains)
	}
}

// TestInterceptPassesAndWraps: next reaches the handler (through older interceptors), and an
// interceptor can change the handler's answer; the newest interceptor runs first.
func TestInterceptPassesAndWraps(t *testing.T) {
	s := startServer(t, ServerConfig{})
	c := dial(t, s.addr)
	var order []string
	var mu sync.Mutex
	note := func(s string) { mu.Lock(); order = append(order, s); mu.Unlock() }
	s.mux.Intercept(3, 0, func(ctx context.Context, r *Request, next HandlerFunc) Future {
		note("older")
		return next(ctx, r)
	})
	s.mux.Intercept(3, 1, func(ctx context.Context, r *Request, next HandlerFunc) Future {
		note("newer")
		fut := next(ctx, r)
		return func() (kmsg.Response, error) {
			resp, err := fut()
			if err == nil {
				resp.(*kmsg.MetadataResponse).Topics[0].ErrorCode = kerr.TopicAuthorizationFailed.Code
			}
			return resp, err
		}
	})
	c.send(metadataReq("x"), 9)
	_, resp := c.recv(3, 9)
	if got := resp.(*kmsg.MetadataResponse).Topics[0]; *got.Topic != "x" || got.ErrorCode != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("answer %s/%d, want the handler's x with the wrapper's error code", *got.Topic, got.ErrorCode)
	}
	if got := metadataOnce(t, c, "y"); !slices.Equal(got, []string{"y"}) {
		t.Fatalf("second request answered %v", got)
	}
	if want := []string{"newer", "older", "older"}; !slices.Equal(order, want) {
		t.Fatalf("interceptors ran %v, want %v", order, want)
	}
}

// TestInterceptCountsExactlyUnderConcurrency: with many connections sending at once, an
// interceptor for n requests takes exactly n, while others are installed and removed meanwhile.
// Run with -race.
func TestInterceptCountsExactlyUnderConcurrency(t *testing.T) {
	s := startServer(t, ServerConfig{})
	const conns, each, n = 8, 25, 40
	var intercepted atomic.Int32
	s.mux.Intercept(3, n, func(_ context.Context, r *Request, _ HandlerFunc) Future {
		intercepted.Add(1)
		return answerWith("injected")(context.Background(), r, nil)
	})
	stop := make(chan struct{})
	churned := make(chan struct{})
	go func() { // installs and removes a pass-through interceptor over and over
		defer close(churned)
		for {
			select {
			case <-stop:
				return
			default:
			}
			s.mux.Intercept(3, 0, func(ctx context.Context, r *Request, next HandlerFunc) Future { return next(ctx, r) })()
		}
	}()
	var injected atomic.Int32
	var wg sync.WaitGroup
	for range conns {
		c := dial(t, s.addr)
		wg.Go(func() {
			for range each {
				c.send(metadataReq("a"), 9)
				_, resp := c.recv(3, 9)
				if *resp.(*kmsg.MetadataResponse).Topics[0].Topic == "injected" {
					injected.Add(1)
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	<-churned
	if intercepted.Load() != n || injected.Load() != n {
		t.Fatalf("intercepted %d, answered %d, want %d of %d requests", intercepted.Load(), injected.Load(), n, conns*each)
	}
	if got := len(s.th.seen()); got != conns*each-n {
		t.Fatalf("handler saw %d requests, want %d", got, conns*each-n)
	}
}

// TestInterceptNeedsAHandler: intercepting a key that is not served is a programming error.
func TestInterceptNeedsAHandler(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Intercept of an unserved key did not panic")
		}
	}()
	NewMux().Intercept(3, 1, answerWith("x"))
}
