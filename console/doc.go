// Package console is a web console for any Kafka cluster, the lesson's kafka-ui in minikraft's
// own binary (issue 16): an overview of the brokers and the controller quorum, the topics with
// their partitions, offsets and configs, a form to create a topic and one to produce a message,
// a messages browser, and the consumer groups with their lag.
//
// It is an ordinary Kafka client (franz-go's kgo and kadm) of whatever cluster its bootstrap
// servers name, Apache Kafka included: it imports nothing of the broker, so what it shows is what
// any client sees. Pages are rendered on the server from Go templates embedded in the binary
// (templates/, static/): no JavaScript build step, nothing loaded from elsewhere, so it works
// offline and inside the FROM-scratch image.
//
// Changes: create a topic, produce, set or reset a topic config (IncrementalAlterConfigs), add
// partitions, delete a topic (its name typed to confirm), reset an empty group's offsets
// (CommitOffsets outside a generation, as kafka-consumer-groups does) and delete it. What the
// cluster refuses is shown on the page it came from, with Kafka's error name.
//
// Safety: everything a page shows (record keys, values and headers, topic and group names,
// broker error messages) goes through html/template, so a record holding markup is rendered as
// text, and the live tail's script inserts its JSON with textContent; the
// Content-Security-Policy allows scripts only from the console itself. Every change is a POST
// that passes two checks (security.go): net/http's CrossOriginProtection (Sec-Fetch-Site, then
// Origin against Host), and a token in the form that is the HMAC, under a secret made by New, of
// a random value in the console's own SameSite=Strict cookie. Config.ReadOnly hides the forms
// and refuses every POST. A page never reads more than Config.MaxMessages records a partition
// and FetchMaxBytes bytes, a page of whole values at most 10 records, a form at most 4 MiB. Bad
// input and errors from the cluster are shown in the page with Kafka's error names (kerr), never
// a stack trace: a handler that panics answers 500 with a one-line message and the panic goes to
// the log.
//
// Speed: /topics shows 100 topics a page and asks offsets and log dirs for those only;
// TestConsoleSpeed times every page against 1,000 topics.
//
// Files: console.go (Server, routes, rendering, errors), security.go (CSRF token, read-only),
// overview.go, topics.go (list, detail), topicedit.go (configs, partitions, delete), create.go,
// produce.go, messages.go (the browser: one short-lived consumer per page), tail.go (the live
// tail's JSON), groups.go, groupedit.go (reset offsets, delete), format.go (text, hex and JSON
// rendering of bytes).
package console
