package console

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// produceForm is the "Produce a message" form as given, and what happened.
type produceForm struct {
	Topic      string
	Partitions int
	Key        string
	Value      string
	Headers    string
	Partition  string
	Err        string
	FieldErrs  map[string]string
	Done       bool
	DonePart   int32
	DoneOffset int64
}

// describeTopic is the topic's Metadata, or a 404 naming Kafka's error when there is no such
// topic.
// metadata asks a broker for the current metadata of topics (all when none). kadm answers
// Metadata from franz-go's cache when it is younger than MetadataMinAge (5 s), so a page shown
// right after a change (a topic deleted, created, given partitions) listed it as it was before;
// asking for the authorized operations too is kadm's way to send a real request.
func (s *Server) metadata(ctx context.Context, topics ...string) (kadm.Metadata, error) {
	return s.adm.Metadata(kadm.WithAuthorizedOps(ctx), topics...)
}

func (s *Server) describeTopic(r *http.Request, name string) (kadm.TopicDetail, error) {
	md, err := s.metadata(r.Context(), name)
	if err != nil {
		return kadm.TopicDetail{}, err
	}
	t, ok := md.Topics[name]
	if !ok {
		return t, httpError{http.StatusNotFound, kerr.UnknownTopicOrPartition.Message + ": no topic " + name}
	}
	if t.Err != nil {
		return t, httpError{http.StatusNotFound, errorText(t.Err)}
	}
	return t, nil
}

func (s *Server) topicPartitions(r *http.Request, name string) (int, error) {
	t, err := s.describeTopic(r, name)
	return len(t.Partitions), err
}

func (s *Server) produceForm(r *http.Request) (*view, error) {
	if err := s.writable(); err != nil {
		return nil, err
	}
	name := r.PathValue("name")
	n, err := s.topicPartitions(r, name)
	if err != nil {
		return nil, err
	}
	return &view{Template: "produce", Title: "Produce to " + name, Data: produceForm{Topic: name, Partitions: n}}, nil
}

// produce sends one record with acks=all (kgo's default, as the lesson's min.insync.replicas
// asks) and shows where it landed. An empty key is a null key, so Kafka's default partitioner
// picks the partition; a key is hashed as the Java client does; a partition given wins.
// Headers are "name: value" lines.
func (s *Server) produce(r *http.Request) (*view, error) {
	name := r.PathValue("name")
	if err := r.ParseForm(); err != nil {
		return nil, badRequest("bad form: %v", err)
	}
	f := produceForm{
		Topic:     name,
		Key:       r.PostFormValue("key"),
		Value:     r.PostFormValue("value"),
		Headers:   r.PostFormValue("headers"),
		Partition: strings.TrimSpace(r.PostFormValue("partition")),
		FieldErrs: map[string]string{},
	}
	n, err := s.topicPartitions(r, name)
	if err != nil {
		return nil, err
	}
	f.Partitions = n
	rec := &kgo.Record{Topic: name, Value: []byte(f.Value), Context: r.Context()}
	if f.Key != "" {
		rec.Key = []byte(f.Key)
	}
	if f.Partition != "" {
		p, err := strconv.ParseInt(f.Partition, 10, 32)
		if err != nil || p < 0 || int(p) >= n {
			f.FieldErrs["partition"] = fmt.Sprintf("want a partition from 0 to %d, or empty for the default partitioner", n-1)
		} else {
			rec.Context = withPartition(r.Context(), int32(p))
		}
	}
	for i, line := range strings.Split(f.Headers, "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(k) == "" {
			f.FieldErrs["headers"] = fmt.Sprintf("line %d: want name: value", i+1)
			continue
		}
		rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: strings.TrimSpace(k), Value: []byte(strings.TrimPrefix(v, " "))})
	}
	if len(f.FieldErrs) > 0 {
		f.Err = "nothing was produced: see the fields marked below"
		return &view{Template: "produce", Title: "Produce to " + name, Status: http.StatusBadRequest, Data: f}, nil
	}
	if err := s.cl.ProduceSync(r.Context(), rec).FirstErr(); err != nil {
		f.Err = "not produced: " + errorText(err)
		return &view{Template: "produce", Title: "Produce to " + name, Status: http.StatusBadGateway, Data: f}, nil
	}
	f.Done, f.DonePart, f.DoneOffset = true, rec.Partition, rec.Offset
	return &view{Template: "produce", Title: "Produce to " + name, Data: f}, nil
}
