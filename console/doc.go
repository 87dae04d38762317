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
// Safety: everything a page shows (record keys, values and headers, topic and group names,
// broker error messages) goes through html/template, so a record holding markup is rendered as
// text; the Content-Security-Policy allows scripts only from the console itself; forms that
// change anything use POST and are refused when the browser says they come from another origin
// (net/http's CrossOriginProtection: Sec-Fetch-Site, then Origin against Host). A page never
// reads more than Config.MaxMessages records and FetchMaxBytes bytes. Bad input and errors from
// the cluster are shown in the page with Kafka's error names (kerr), never a stack trace: a
// handler that panics answers 500 with a one-line message and the panic goes to the log.
//
// Files: console.go (Server, routes, rendering, errors), overview.go, topics.go (list, detail,
// create), produce.go, messages.go (the browser: one short-lived consumer per page), groups.go,
// format.go (text, hex and JSON rendering of bytes).
package console
