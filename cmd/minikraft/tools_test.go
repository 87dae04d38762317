package main

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/minikraft/minikraft/kafkatools"
)

// TestImageLinksEveryTool checks that the names scripts/build-image.sh links into the image are
// exactly package kafkatools' tools, so a tool added to one is not missing from the other.
func TestImageLinksEveryTool(t *testing.T) {
	data, err := os.ReadFile("../../scripts/image/kafka-tools.txt")
	if err != nil {
		t.Fatal(err)
	}
	listed := strings.Fields(string(data))
	if !slices.Equal(listed, kafkatools.Tools()) {
		t.Fatalf("scripts/image/kafka-tools.txt lists %v, package kafkatools has %v", listed, kafkatools.Tools())
	}
	for _, n := range listed {
		if kafkatools.ToolName("/usr/local/bin/"+n+".sh") != n || kafkatools.ToolName(n) != n {
			t.Errorf("%s is not dispatched under its names", n)
		}
	}
}
