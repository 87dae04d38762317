package broker

// Topic helpers shared by the API handlers: admin request deadlines, Kafka's topic name rules,
// internal topics, and topic ids.

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// defaultAdminTimeout bounds admin requests that carry no usable timeout of their own.
const defaultAdminTimeout = 30 * time.Second

// adminContext bounds an admin request by its TimeoutMillis, or by defaultAdminTimeout when it
// has none.
func adminContext(ctx context.Context, timeoutMillis int32) (context.Context, context.CancelFunc) {
	d := time.Duration(timeoutMillis) * time.Millisecond
	if d <= 0 {
		d = defaultAdminTimeout
	}
	return context.WithTimeout(ctx, d)
}

// maxTopicNameLength is Kafka's limit: 255 minus room for a partition suffix and ".deleted".
const maxTopicNameLength = 249

// validateTopicName applies Kafka's Topic.validate rules.
func validateTopicName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: Topic name is illegal, it can't be empty", kerr.InvalidTopicException)
	case name == "." || name == "..":
		return fmt.Errorf("%w: Topic name cannot be \".\" or \"..\"", kerr.InvalidTopicException)
	case len(name) > maxTopicNameLength:
		return fmt.Errorf("%w: Topic name is illegal, it can't be longer than %d characters, topic name: %s", kerr.InvalidTopicException, maxTopicNameLength, name)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: Topic name \"%s\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'", kerr.InvalidTopicException, name)
		}
	}
	return nil
}

// checkTopicCollision refuses a name that differs from an existing topic only by '.' versus '_':
// Kafka's metric names cannot tell them apart, so Kafka refuses such a pair.
func (b *Broker) checkTopicCollision(name string) error {
	norm := strings.ReplaceAll(name, ".", "_")
	for existing := range b.meta.State().Topics {
		if existing != name && strings.ReplaceAll(existing, ".", "_") == norm {
			return fmt.Errorf("%w: Topic '%s' collides with existing topic: %s", kerr.InvalidTopicException, name, existing)
		}
	}
	return nil
}

// isInternalTopic reports whether name is one of Kafka's internal topics, which only the broker
// itself creates and writes, and which clients may not delete or repartition.
func isInternalTopic(name string) bool {
	return name == offsetsTopic || name == "__transaction_state"
}

// topicNameByID resolves a topic id (Fetch v13+, Metadata v10+).
func (b *Broker) topicNameByID(id [16]byte) (string, bool) {
	name, ok := b.meta.State().TopicIDs[id]
	return name, ok
}
