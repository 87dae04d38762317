package wire

import (
	"context"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestCallServesInProcess: Call runs a request through the key's interceptors and handler, as a
// request from a connection would, and refuses a key or version the Mux does not serve.
func TestCallServesInProcess(t *testing.T) {
	m := NewMux()
	var listener string
	m.Handle(3, 0, 12, func(_ context.Context, r *Request) Future {
		listener = r.Conn.Listener
		resp := r.Msg.ResponseKind().(*kmsg.MetadataResponse)
		resp.Topics = append(resp.Topics, kmsg.MetadataResponseTopic{Topic: kmsg.StringPtr("handler")})
		return Done(resp, nil)
	})
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 9
	topics := func() []string {
		t.Helper()
		resp, err := m.Call(context.Background(), "INTERNAL", req)
		if err != nil {
			t.Fatal(err)
		}
		return topicsOf(t, resp)
	}
	if got := topics(); !slices.Equal(got, []string{"handler"}) || listener != "INTERNAL" {
		t.Fatalf("Call = %v on %q", got, listener)
	}
	remove := m.Intercept(3, 1, answerWith("intercepted"))
	defer remove()
	if got := topics(); !slices.Equal(got, []string{"intercepted"}) {
		t.Fatalf("Call with an interceptor = %v", got)
	}
	if got := topics(); !slices.Equal(got, []string{"handler"}) {
		t.Fatalf("Call after the interceptor's one request = %v", got)
	}
	req.Version = 13
	if _, err := m.Call(context.Background(), "INTERNAL", req); err == nil {
		t.Fatal("Call of an unserved version succeeded")
	}
	if _, err := m.Call(context.Background(), "INTERNAL", kmsg.NewPtrFetchRequest()); err == nil {
		t.Fatal("Call of an unserved key succeeded")
	}
}
