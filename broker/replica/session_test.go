package replica

import (
	"math"
	"slices"
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The follower's fetch session (replica_session.go) without a leader: which partitions each
// request names, and how answers move the session on, as Kafka's FetchSessionHandler does.

// sp is a partition's fetch state at offset off, in leader epoch 5.
func sp(topic string, p int32, off int64) sessionPartition {
	return sessionPartition{
		sessionKey:         sessionKey{topic, p},
		fetchOffset:        off,
		logStartOffset:     0,
		currentLeaderEpoch: 5,
		lastFetchedEpoch:   5,
		maxBytes:           1 << 20,
	}
}

// named lists the partitions a request names, as "topic/partition@offset", and its forgotten
// ones as "-topic/partition".
func named(req *kmsg.FetchRequest) []string {
	var out []string
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			out = append(out, rt.Topic+"/"+strconv.Itoa(int(rp.Partition))+"@"+strconv.FormatInt(rp.FetchOffset, 10))
		}
	}
	for _, ft := range req.ForgottenTopics {
		for _, p := range ft.Partitions {
			out = append(out, "-"+ft.Topic+"/"+strconv.Itoa(int(p)))
		}
	}
	slices.Sort(out)
	return out
}

// answer is a leader's answer in session id naming the given partitions.
func answer(id int32, parts ...sessionKey) *kmsg.FetchResponse {
	resp := kmsg.NewPtrFetchResponse()
	resp.SessionID = id
	for _, k := range parts {
		i := slices.IndexFunc(resp.Topics, func(t kmsg.FetchResponseTopic) bool { return t.Topic == k.topic })
		if i < 0 {
			rt := kmsg.NewFetchResponseTopic()
			rt.Topic = k.topic
			resp.Topics = append(resp.Topics, rt)
			i = len(resp.Topics) - 1
		}
		rp := kmsg.NewFetchResponseTopicPartition()
		rp.Partition = k.partition
		resp.Topics[i].Partitions = append(resp.Topics[i].Partitions, rp)
	}
	return resp
}

// round builds a request of want in s and checks its session id, epoch and partitions.
func round(t *testing.T, s *fetchSession, want []sessionPartition, id, epoch int32, names ...string) *kmsg.FetchRequest {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	s.build(req, want)
	if req.SessionID != id || req.SessionEpoch != epoch {
		t.Fatalf("request in session %d epoch %d, want %d epoch %d", req.SessionID, req.SessionEpoch, id, epoch)
	}
	if got := named(req); !slices.Equal(got, names) {
		t.Fatalf("request (session %d epoch %d) names %v, want %v", id, epoch, got, names)
	}
	return req
}

func TestFetchSessionFullThenIncremental(t *testing.T) {
	var s fetchSession
	want := []sessionPartition{sp("a", 0, 10), sp("a", 1, 20), sp("b", 0, 30)}
	round(t, &s, want, 0, 0, "a/0@10", "a/1@20", "b/0@30")
	if err := s.handleResponse(answer(77, sessionKey{"a", 0}, sessionKey{"a", 1}, sessionKey{"b", 0})); err != nil {
		t.Fatal(err)
	}

	// Nothing changed: an empty incremental fetch in session 77, epoch 1.
	round(t, &s, want, 77, 1)
	// An incremental answer names only the partitions with news; the others are not missing.
	if err := s.handleResponse(answer(77, sessionKey{"a", 1})); err != nil {
		t.Fatalf("incremental answer with one partition: %v", err)
	}

	// a/1 moved on (records appended), b/0's leader epoch changed, b/1 is new; a/0 did not change.
	want[1].fetchOffset = 25
	want[2].currentLeaderEpoch, want[2].lastFetchedEpoch = 6, 6
	want = append(want, sp("b", 1, 0))
	req := round(t, &s, want, 77, 2, "a/1@25", "b/0@30", "b/1@0")
	if rp := req.Topics[1].Partitions[0]; rp.CurrentLeaderEpoch != 6 || rp.LastFetchedEpoch != 6 {
		t.Fatalf("b/0 sent with leader epoch %d, last fetched epoch %d; want 6, 6", rp.CurrentLeaderEpoch, rp.LastFetchedEpoch)
	}
	if err := s.handleResponse(answer(77)); err != nil {
		t.Fatal(err)
	}

	// The log start moved alone: that is a change too.
	want[0].logStartOffset = 3
	round(t, &s, want, 77, 3, "a/0@10")
	if err := s.handleResponse(answer(77)); err != nil {
		t.Fatal(err)
	}
	round(t, &s, want, 77, 4)
}

func TestFetchSessionForgetsPartitions(t *testing.T) {
	var s fetchSession
	round(t, &s, []sessionPartition{sp("a", 0, 1), sp("a", 1, 2), sp("b", 0, 3)}, 0, 0, "a/0@1", "a/1@2", "b/0@3")
	if err := s.handleResponse(answer(9, sessionKey{"a", 0}, sessionKey{"a", 1}, sessionKey{"b", 0})); err != nil {
		t.Fatal(err)
	}
	// a/1 and b/0 are no longer followed from this leader (or wait for their truncation).
	round(t, &s, []sessionPartition{sp("a", 0, 1)}, 9, 1, "-a/1", "-b/0")
	if err := s.handleResponse(answer(9)); err != nil {
		t.Fatal(err)
	}
	// An answer naming a forgotten partition does not fit the session: it is not applied and
	// the next fetch is a full one that closes the session (id kept, epoch 0).
	round(t, &s, []sessionPartition{sp("a", 0, 1)}, 9, 2)
	if err := s.handleResponse(answer(9, sessionKey{"b", 0})); err == nil {
		t.Fatal("an incremental answer naming a partition outside the session was accepted")
	}
	// b/0 comes back: added again, in the full fetch.
	round(t, &s, []sessionPartition{sp("a", 0, 1), sp("b", 0, 3)}, 9, 0, "a/0@1", "b/0@3")
}

func TestFetchSessionErrorsResetToFull(t *testing.T) {
	want := []sessionPartition{sp("a", 0, 1), sp("a", 1, 2)}
	all := []sessionKey{{"a", 0}, {"a", 1}}
	start := func(t *testing.T) *fetchSession {
		s := new(fetchSession)
		round(t, s, want, 0, 0, "a/0@1", "a/1@2")
		if err := s.handleResponse(answer(5, all...)); err != nil {
			t.Fatal(err)
		}
		round(t, s, want, 5, 1)
		return s
	}
	for _, c := range []struct {
		name   string
		fail   func(s *fetchSession) error
		nextID int32 // the full fetch names the old session to close it, unless the leader lost it
	}{
		{"session id not found", func(s *fetchSession) error {
			r := answer(0)
			r.ErrorCode = kerr.FetchSessionIDNotFound.Code
			return s.handleResponse(r)
		}, 0},
		{"invalid epoch", func(s *fetchSession) error {
			r := answer(0)
			r.ErrorCode = kerr.InvalidFetchSessionEpoch.Code
			return s.handleResponse(r)
		}, 5},
		{"connection error", func(s *fetchSession) error { s.handleError(); return kerr.NetworkException }, 5},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := start(t)
			if err := c.fail(s); err == nil {
				t.Fatal("the failure was not reported")
			}
			round(t, s, want, c.nextID, 0, "a/0@1", "a/1@2")
			// The full fetch makes a new session, which goes on from epoch 1.
			if err := s.handleResponse(answer(6, all...)); err != nil {
				t.Fatal(err)
			}
			round(t, s, want, 6, 1)
		})
	}

	// A full answer that leaves out a partition is not applied: the next fetch is full again.
	var s fetchSession
	round(t, &s, want, 0, 0, "a/0@1", "a/1@2")
	if err := s.handleResponse(answer(5, all[0])); err == nil {
		t.Fatal("a full answer missing a partition was accepted")
	}
	round(t, &s, want, 0, 0, "a/0@1", "a/1@2")
}

// A leader with no free session slot answers full fetches with session id 0: the follower keeps
// sending full fetches, each asking again for a session (epoch 0), and uses one once granted.
// A leader that closes the session (id 0 on an incremental answer) gets full fetches too.
func TestFetchSessionWithoutSessionSlot(t *testing.T) {
	var s fetchSession
	want := []sessionPartition{sp("a", 0, 1)}
	for range 3 {
		round(t, &s, want, 0, 0, "a/0@1")
		if err := s.handleResponse(answer(0, sessionKey{"a", 0})); err != nil {
			t.Fatal(err)
		}
	}
	round(t, &s, want, 0, 0, "a/0@1")
	if err := s.handleResponse(answer(3, sessionKey{"a", 0})); err != nil {
		t.Fatal(err)
	}
	round(t, &s, want, 3, 1)
	if err := s.handleResponse(answer(0)); err != nil {
		t.Fatal(err)
	}
	round(t, &s, want, 0, 0, "a/0@1")
}

// Epochs count up from 1 and wrap from MaxInt32 to 1, never to 0 (a full fetch) or -1 (FINAL).
func TestFetchSessionEpochWraps(t *testing.T) {
	var s fetchSession
	want := []sessionPartition{sp("a", 0, 1)}
	round(t, &s, want, 0, 0, "a/0@1")
	if err := s.handleResponse(answer(8, sessionKey{"a", 0})); err != nil {
		t.Fatal(err)
	}
	s.epoch = math.MaxInt32 - 1
	for _, e := range []int32{math.MaxInt32 - 1, math.MaxInt32, 1, 2} {
		round(t, &s, want, 8, e)
		if err := s.handleResponse(answer(8)); err != nil {
			t.Fatal(err)
		}
	}
}
