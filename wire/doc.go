// Package wire speaks Kafka's framing on a socket and runs the per-connection request/response flow.
// It knows nothing about topics or partitions: it turns bytes into typed kmsg requests, calls the
// handler registered for each API key in a Mux, and writes the handlers' responses back in order.
//
// # A request's path
//
// A connection has two goroutines. The reader (the goroutine that called ServeConn, or the one Serve
// started for an accepted connection) loops:
//
//  1. Read a frame: a big-endian int32 size, then that many bytes. A negative size, or one above
//     ServerConfig.MaxRequestBytes, closes the connection; before the first request of a
//     connection has been parsed the cap is the much smaller MaxFirstRequestBytes, so a peer that
//     has not yet spoken Kafka cannot make us buffer 100 MiB. The claimed size is never allocated
//     up front: the buffer starts at 32 KiB and, each time it fills, grows to at most 16 times
//     the bytes received so far (or the claimed size, if smaller), so a header claiming 100 MiB
//     followed by five bytes costs 32 KiB (Kafka's CVE-2022-34917 came from trusting claimed
//     sizes), while a 6 MB Produce request that does arrive costs 32 KiB + 6 MB/16 + 6 MB. For
//     an API key the Mux lets recycle its frames (Mux.RecycleFrames: its handlers keep no
//     reference into the request's bytes once their Future has returned), the frame is read
//     into a buffer that an earlier request of such a key left in a server-wide pool, and its
//     own buffer goes back to the pool once its response has been written.
//  2. ParseRequest: the request header (v0 only for ControlledShutdown v0; v1, or v2 with tagged
//     fields when the request version is flexible) and the body, decoded with kmsg.
//  3. Call the key's HandlerFunc, then queue the Future it returned; or, when that Future is
//     Done, the writer holds no earlier response and no further request is already buffered,
//     write the response itself (conn.writeHere): a client that waits for each answer then
//     costs no hand-off to the writer per request, which on a loaded two-core machine was a
//     thread wake-up, a steal and a park each.
//
// The writer takes Futures off the queue in order, calls each (blocking until its response is
// ready), and writes the response with its header: the correlation id, plus an empty tagged-field
// byte when the response version is flexible, except ApiVersions, whose response header is always
// v0 so a client that does not yet know our versions can always read it. Responses are encoded
// into a per-connection buffer that is written whenever the queue is momentarily empty or 32 KiB
// have gathered, so a burst of pipelined responses leaves in few syscalls; and, so that no
// response waits in the buffer behind a later Future that blocks (a long-poll Fetch), also when
// the next Future has not answered within 100µs. A Future that yields a nil response writes
// nothing (Produce with acks=0).
//
// A Fetch response's record sets are not copied into that buffer: wire encodes Fetch responses
// itself (fetch.go; the same bytes as kmsg's AppendTo, checked against it), leaving each record
// set of 8 KiB or more where the handler put it, and writes the encoded pieces and those slices
// with one writev. The writer may therefore still be reading a response's RecordBatches after
// its Future has returned: they must not be modified or reused afterwards (the log reads into a
// fresh buffer for each Fetch, so nothing does).
//
// # Security
//
// Serve's listeners are PLAINTEXT; ServeSecure gives a listener a Security. Its connections
// first complete, on their reader goroutine and before their writer starts, a TLS handshake
// (Security.TLS) and then Kafka's SASL exchange (Security.SASL, see authenticate in sasl.go):
// only ApiVersions and SaslHandshake before it, then SaslAuthenticate (or, after a v0 handshake,
// bare frames), with UNSUPPORTED_SASL_MECHANISM and SASL_AUTHENTICATION_FAILED answered as Kafka
// does and anything else closing the connection. Until then frames are capped at
// ServerConfig.MaxAuthBytes, and all of it must end within AuthTimeout. The principal
// (ConnInfo.Principal) comes from the SASL exchange or the client certificate (named by
// Security.CertPrincipal when set: ssl.principal.mapping.rules; its error closes the
// connection); requests after
// authentication get a new ConnInfo carrying it. HandleSASL registers the two SASL keys for what
// reaches the Mux (ILLEGAL_SASL_STATE, as Kafka's KafkaApis answers). The SASL mechanisms
// themselves (Authenticator, SASLExchange) are the caller's.
//
// # Why handlers run one at a time, and Futures in parallel
//
// Handlers of one connection are called serially, in the order their requests were read, and
// each performs its side effects and takes its decisions before it returns: Produce appends,
// OffsetCommit and JoinGroup are queued in their group, a Fetch takes its first read, an admin
// request has the controller commit its change. That makes the order of effects on a connection
// the order the client sent its requests, as in Kafka (which reads a connection's next request
// only once it has answered the last). An idempotent producer relies on it: it keeps up to five
// Produce requests in flight on one connection and their sequence numbers must be appended in
// that order, or the broker would answer OUT_OF_ORDER_SEQUENCE for batches that were sent
// correctly; a consumer's commit must be in its group before the requests that follow it.
//
// A Future only waits for what its handler started: the ISR for acks=all, a group's answer (a
// JoinGroup parked until its rebalance completes, a commit until it is durable), data for a
// Fetch's long poll. What a Future decides after it has waited (the records a long poll finds,
// the rebalance's outcome) belongs to that later moment, as in Kafka's delayed operations; what
// it must not do is start an effect that later requests of its connection could overtake.
//
// Waiting, however, must not stall the connection: a Produce with acks=all waits for the ISR, a
// Fetch long-polls up to MaxWaitMillis. Such a handler returns a Future that blocks, and the
// reader goes on to read and handle the next requests while the writer waits on it. The queue
// between them holds at most ServerConfig.MaxInFlight Futures; when it is full the reader stops
// reading, which pushes back on the client through TCP.
//
// # Errors
//
// A Kafka error belongs in the response's error code. Anything else ends the connection, as Kafka
// does: an unknown API key, a version outside the registered range, a request that does not decode,
// a Future that returns an error, or a panic in a handler or Future (recovered and logged at error
// level with the API name; the server and its other connections keep running). The one exception
// is an ApiVersions request with a version we do not serve: it is answered with a v0 ApiVersions
// response carrying UNSUPPORTED_VERSION and the full key list, so the client can retry with a
// version both sides know.
//
// When a connection ends, its context is canceled (handlers and Futures should watch it), the
// socket is closed, and responses not yet written are dropped, as Kafka drops them. Every queued
// Future is still called, so whatever it holds (a waiter registration, say) is released; a Future
// must therefore return promptly once the handler's context is canceled. Server.Close stops the
// listeners, closes every connection and waits for all of their goroutines.
package wire
