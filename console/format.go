package console

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"unicode"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"
)

// shown is bytes as a page shows them: the text (already cut to maxShown bytes), how it is
// encoded ("text", "json", "hex" or "null"), and the full length when it was cut.
type shown struct {
	Text   string `json:"text"`
	As     string `json:"as"`
	Len    int    `json:"len"`
	Cut    bool   `json:"cut"`
	IsNull bool   `json:"null"`
	// Link is the address of the record alone and whole, when Cut.
	Link string `json:"link,omitempty"`
}

// maxShown is how much of one key, value or header the messages page shows.
const maxShown = 4 << 10

// render shows b as format asks: "text" (invalid UTF-8 falls back to hex), "hex", "json"
// (pretty-printed when b is JSON, else as auto), or "auto" (JSON if it parses as an object or
// array, text if printable UTF-8, hex otherwise). A nil b is Kafka's null, not "".
func render(b []byte, format string, full bool) shown {
	if b == nil {
		return shown{As: "null", IsNull: true}
	}
	s := shown{Len: len(b)}
	if !full && len(b) > maxShown {
		b, s.Cut = b[:maxShown], true
	}
	switch {
	case format == "hex" || (format != "hex" && !printable(b) && !(s.Cut && printable(trimRune(b)))):
		s.As, s.Text = "hex", hex.Dump(b)
	case (format == "json" || format == "auto") && !s.Cut && looksJSON(b):
		var out bytes.Buffer
		if json.Indent(&out, b, "", "  ") == nil {
			s.As, s.Text = "json", out.String()
			break
		}
		s.As, s.Text = "text", string(b)
	default:
		s.As, s.Text = "text", string(b)
	}
	return s
}

// trimRune drops a rune that the cut at maxShown split.
func trimRune(b []byte) []byte {
	for i := 0; i < utf8.UTFMax && len(b) > 0 && !utf8.Valid(b); i++ {
		b = b[:len(b)-1]
	}
	return b
}

func printable(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if !unicode.IsPrint(r) && !unicode.IsSpace(r) {
			return false
		}
	}
	return true
}

func looksJSON(b []byte) bool {
	t := bytes.TrimSpace(b)
	return len(t) > 1 && (t[0] == '{' || t[0] == '[') && json.Valid(t)
}

// partitionKey carries the partition the produce form chose, in a record's Context.
type partitionKey struct{}

// formPartitioner sends a record to the partition in its context when the form named one, and
// otherwise as Kafka's default partitioner does: by the murmur2 hash of the key (kgo's sticky
// key partitioner, whose keyed path is the Java client's), or to a random partition for a record
// without a key.
func formPartitioner() kgo.Partitioner {
	return kgo.BasicConsistentPartitioner(func(topic string) func(*kgo.Record, int) int {
		keyed := kgo.StickyKeyPartitioner(nil).ForTopic(topic)
		return func(r *kgo.Record, n int) int {
			if p, ok := r.Context.Value(partitionKey{}).(int32); ok {
				return int(p)
			}
			if r.Key != nil {
				return keyed.Partition(r, n)
			}
			return rand.IntN(n)
		}
	})
}

func withPartition(ctx context.Context, p int32) context.Context {
	return context.WithValue(ctx, partitionKey{}, p)
}
