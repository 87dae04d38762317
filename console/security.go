package console

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
)

// The CSRF defence has two layers, either of which alone refuses a form posted from another
// site:
//
//   - net/http's CrossOriginProtection (in routes): a browser sends Sec-Fetch-Site, or Origin,
//     with every POST, and one from another origin gets 403;
//   - a token in every form: the HMAC, under a secret made when the Server is, of a random
//     value in the console's own cookie (SameSite=Strict, HttpOnly). Another site can neither
//     read the cookie nor compute the HMAC, so it cannot fill the form's field, and a console
//     restarted (a new secret) refuses forms its predecessor rendered: reload the page.
//
// A client without a browser (curl, a script) passes the first layer (it sends neither header)
// and must do what a browser does for the second: GET a page, keep the cookie, send the token
// from the page's <meta name="csrf-token">.
const (
	csrfCookie = "minikraft_console"
	csrfField  = "csrf"
)

type csrfKey struct{}

// newSecret is 32 random bytes, base64: the per-process HMAC key, and the placeholder that
// render replaces with a request's token (random, so no record's text can hit it by chance).
func newSecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// csrfToken is the token forms must carry for the cookie value c.
func (s *Server) csrfToken(c string) string {
	m := hmac.New(sha256.New, []byte(s.secret))
	m.Write([]byte("minikraft console form\x00" + c))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// guard gives every request a cookie value (setting the cookie when the browser has none, so the
// page's forms carry a token it will accept), refuses every change in read-only mode, and refuses
// a POST whose token does not match its cookie. The body of a POST is bounded by maxForm.
func (s *Server) guard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(csrfCookie)
		val := ""
		if err == nil && len(c.Value) >= 16 && len(c.Value) <= 128 {
			val = c.Value
		} else {
			val = newSecret()
			http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: val, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
		}
		r = r.WithContext(context.WithValue(r.Context(), csrfKey{}, val))
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			h.ServeHTTP(w, r)
			return
		}
		if s.cfg.ReadOnly {
			s.renderError(w, r, http.StatusForbidden, "the console is read-only: it changes nothing")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		if err := r.ParseForm(); err != nil {
			s.renderError(w, r, http.StatusBadRequest, "bad form: "+err.Error())
			return
		}
		// With no cookie the request had, val is new and no token matches it.
		if got := r.PostFormValue(csrfField); err != nil || !hmac.Equal([]byte(got), []byte(s.csrfToken(val))) {
			s.renderError(w, r, http.StatusForbidden, "the form's CSRF token does not match this browser's cookie: reload the page and send it again")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// maxForm bounds a form's body: the produce form's value is the largest field.
const maxForm = 4 << 20

// fillToken puts the request's token where the templates wrote the placeholder.
func (s *Server) fillToken(r *http.Request, html string) string {
	val, _ := r.Context().Value(csrfKey{}).(string)
	if val == "" {
		return strings.ReplaceAll(html, s.placeholder, "")
	}
	return strings.ReplaceAll(html, s.placeholder, s.csrfToken(val))
}
