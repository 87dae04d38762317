package raftmeta

import (
	"errors"
	"net"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// TestTransportDoesNotPipeline: the Raft transport refuses pipelined replication, so raft
// replicates one AppendEntries at a time and its Shutdown cannot deadlock on a pipeline whose
// responses nobody consumes any more (see newNetworkTransport).
func TestTransportDoesNotPipeline(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	trans, _ := newNetworkTransport(&Config{ClusterID: "c1", Listener: ln}, hclog.NewNullLogger())
	defer trans.Close()
	p, err := trans.AppendEntriesPipeline("1", "127.0.0.1:1")
	if p != nil {
		p.Close()
	}
	if !errors.Is(err, raft.ErrPipelineReplicationNotSupported) {
		t.Fatalf("AppendEntriesPipeline: %v, want %v", err, raft.ErrPipelineReplicationNotSupported)
	}
}
