package wire

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	saslHandshakeKey    = 17
	saslAuthenticateKey = 36
)

// HandleSASL registers SaslHandshake (v0-v1) and SaslAuthenticate (v0-v2) in m. These handlers
// see only the requests that reach the Mux: on a listener without SASL, or on a SASL listener
// after authentication (the exchange itself is the connection's, see authenticate). Kafka's
// KafkaApis answers both ILLEGAL_SASL_STATE there; registering them also makes ApiVersions list
// them on every listener, as Kafka's does.
func HandleSASL(m *Mux) {
	m.Handle(saslHandshakeKey, 0, 1, func(_ context.Context, req *Request) Future {
		resp := req.Msg.ResponseKind().(*kmsg.SASLHandshakeResponse)
		resp.ErrorCode = kerr.IllegalSaslState.Code
		return Done(resp, nil)
	})
	m.Handle(saslAuthenticateKey, 0, 2, func(_ context.Context, req *Request) Future {
		resp := req.Msg.ResponseKind().(*kmsg.SASLAuthenticateResponse)
		resp.ErrorCode = kerr.IllegalSaslState.Code
		msg := "SaslAuthenticate request received after successful authentication"
		resp.ErrorMessage = &msg
		return Done(resp, nil)
	})
}

// ErrAuthentication is wrapped by the error that ends a connection whose SASL authentication
// failed (or broke Kafka's rules for the exchange).
var ErrAuthentication = errors.New("wire: SASL authentication failed")

// authenticate is Kafka's SaslServerAuthenticator on one connection, run by its reader before the
// writer starts, answering synchronously:
//
//   - First, an ApiVersions request (at most one, answered by the Mux's handler) and then a
//     SaslHandshake naming an enabled mechanism; any other request closes the connection
//     unanswered. An unknown mechanism is answered UNSUPPORTED_SASL_MECHANISM, with the enabled
//     ones, and the connection closes.
//   - After a v0 handshake the client sends the mechanism's tokens as bare size-prefixed frames
//     and gets the server's the same way (a failure closes the connection without a word); after
//     a v1 handshake, in SaslAuthenticate requests. A failed step answers
//     SASL_AUTHENTICATION_FAILED with the mechanism's message, then closes.
//
// Frames are capped at ServerConfig.MaxAuthBytes (sasl.server.max.receive.size) without being
// allocated first, and the whole exchange must end within AuthTimeout. On success the requests
// that follow carry the exchange's principal.
func (c *conn) authenticate(fr *frameReader) error {
	_ = c.nc.SetDeadline(time.Now().Add(c.s.cfg.AuthTimeout))
	defer c.nc.SetDeadline(time.Time{})
	out := &outBuf{w: c.rw}
	defer out.release()
	send := func(req *Request, resp kmsg.Response) error {
		return c.write(out, pending{key: req.Key, version: req.Version, corr: req.CorrelationID}, resp, true)
	}
	next := func() (*Request, HandlerFunc, []byte, error) {
		frame, pooled, err := fr.next(c.s.cfg.MaxAuthBytes)
		if err != nil {
			return nil, nil, nil, err
		}
		if pooled {
			// Only keys that recycle frames (Produce) come pooled, and none of them is allowed
			// here: give the buffer back, the request fails below.
			defer c.s.frames.put(frame)
			return nil, nil, nil, fmt.Errorf("%w: request before authentication", ErrAuthentication)
		}
		req, h, err := parse(frame, c.s.mux)
		return req, h, frame, err
	}

	var x SASLExchange
	var handshakeVersion int16
	versions := false
	for x == nil {
		req, h, _, err := next()
		if err != nil {
			if req != nil && req.Key == apiVersionsKey && !versions && errors.Is(err, ErrUnsupportedVersion) {
				if err := send(&Request{Key: apiVersionsKey, CorrelationID: req.CorrelationID}, unsupportedVersionsResponse(c.s.mux)); err != nil {
					return err
				}
				continue
			}
			return err
		}
		switch req.Key {
		case apiVersionsKey:
			if versions {
				return fmt.Errorf("%w: a second ApiVersions request during the SASL handshake", ErrAuthentication)
			}
			versions = true
			req.Conn = c.info
			fut, err := c.handle(h, req)
			if err != nil {
				return err
			}
			resp, err := c.respond(pending{key: req.Key, version: req.Version, fut: fut})
			if err != nil {
				return err
			}
			if err := send(req, resp); err != nil {
				return err
			}
		case saslHandshakeKey:
			hs := req.Msg.(*kmsg.SASLHandshakeRequest)
			resp := hs.ResponseKind().(*kmsg.SASLHandshakeResponse)
			resp.SupportedMechanisms = c.sec.SASL.Mechanisms()
			var ok bool
			if x, ok = c.sec.SASL.Start(hs.Mechanism); !ok {
				resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
				if err := send(req, resp); err != nil {
					return err
				}
				return fmt.Errorf("%w: unsupported SASL mechanism %q", ErrAuthentication, hs.Mechanism)
			}
			handshakeVersion = req.Version
			if err := send(req, resp); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%w: unexpected %s request during the SASL handshake", ErrAuthentication, nameForKey(req.Key))
		}
	}

	for {
		var done bool
		if handshakeVersion == 0 {
			frame, pooled, err := fr.next(c.s.cfg.MaxAuthBytes)
			if err != nil {
				return err
			}
			answer, fin, err := x.Step(frame)
			if pooled {
				c.s.frames.put(frame)
			}
			if err != nil {
				return fmt.Errorf("%w: %v", ErrAuthentication, err)
			}
			raw := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(answer)), uint32(len(answer)))
			if _, err := c.rw.Write(append(raw, answer...)); err != nil {
				return err
			}
			done = fin
		} else {
			req, _, _, err := next()
			if err != nil {
				return err
			}
			if req.Key != saslAuthenticateKey {
				return fmt.Errorf("%w: unexpected %s request during SASL authentication", ErrAuthentication, nameForKey(req.Key))
			}
			ar := req.Msg.(*kmsg.SASLAuthenticateRequest)
			resp := ar.ResponseKind().(*kmsg.SASLAuthenticateResponse)
			answer, fin, serr := x.Step(ar.SASLAuthBytes)
			if serr != nil {
				msg := serr.Error()
				resp.ErrorCode, resp.ErrorMessage = kerr.SaslAuthenticationFailed.Code, &msg
				if err := send(req, resp); err != nil {
					return err
				}
				return fmt.Errorf("%w: %v", ErrAuthentication, serr)
			}
			resp.SASLAuthBytes = answer
			if err := send(req, resp); err != nil {
				return err
			}
			done = fin
		}
		if done {
			c.setPrincipal(x.Principal())
			c.log.Debug("wire: authenticated", "principal", c.info.Principal)
			return nil
		}
	}
}
