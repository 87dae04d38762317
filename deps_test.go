package minikraft_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/minikraft/minikraft"

// allowedImports is ARCHITECTURE.md's package table ("Import rules"): which of the module's
// packages, and which outside modules, each package may import (directly or not). The standard
// library is always allowed. A package without a row is not checked.
var allowedImports = map[string][]string{
	"wire":                {"github.com/twmb/franz-go/pkg/kmsg", "github.com/twmb/franz-go/pkg/kbin", "github.com/twmb/franz-go/pkg/kerr"},
	"log":                 {},
	"compress":            {"github.com/klauspost/compress", "github.com/pierrec/lz4"},
	"raftmeta":            {"github.com/hashicorp/", "github.com/armon/go-metrics", "github.com/boltdb/bolt", "go.etcd.io/bbolt", "github.com/fatih/color", "github.com/mattn/", "golang.org/x/sys"},
	"broker/partition":    {module + "/log"},
	"broker/controller":   {module + "/raftmeta", module + "/internal/uuid", "github.com/hashicorp/", "github.com/armon/go-metrics", "github.com/boltdb/bolt", "go.etcd.io/bbolt", "github.com/fatih/color", "github.com/mattn/", "golang.org/x/sys"},
	"broker/group":        {module + "/internal/uuid", module + "/internal/coordhash", "github.com/twmb/franz-go/pkg/kmsg", "github.com/twmb/franz-go/pkg/kbin", "github.com/twmb/franz-go/pkg/kerr"},
	"broker/txn":          {module + "/internal/coordhash", "github.com/twmb/franz-go/pkg/kmsg", "github.com/twmb/franz-go/pkg/kbin", "github.com/twmb/franz-go/pkg/kerr"},
	"broker/config":       {},
	"broker/acl":          {},
	"broker/replica":      {module + "/log", module + "/compress", module + "/broker/partition", module + "/broker/config", module + "/raftmeta", module + "/wire", module + "/internal/periodic", "github.com/twmb/franz-go/pkg/kmsg", "github.com/twmb/franz-go/pkg/kbin", "github.com/twmb/franz-go/pkg/kerr", "github.com/klauspost/compress", "github.com/pierrec/lz4", "github.com/hashicorp/", "github.com/armon/go-metrics", "github.com/boltdb/bolt", "go.etcd.io/bbolt", "github.com/fatih/color", "github.com/mattn/", "golang.org/x/sys"},
	"broker/fetchsession": {},
	"broker/security":     {module + "/wire", "github.com/twmb/franz-go/pkg/kmsg", "github.com/twmb/franz-go/pkg/kbin", "github.com/twmb/franz-go/pkg/kerr", "golang.org/x/crypto/pkcs12"},
	"internal/testcert":   {},
	"internal/periodic":   {},
	"internal/uuid":       {},
	"internal/coordhash":  {},
	"internal/txncheck":   {"github.com/twmb/franz-go/", "github.com/klauspost/compress", "github.com/pierrec/lz4"},
	"console":             {"github.com/twmb/franz-go/", "github.com/klauspost/compress", "github.com/pierrec/lz4"},
	"kafkatools":          {"github.com/twmb/franz-go/", "github.com/klauspost/compress", "github.com/pierrec/lz4", "golang.org/x/crypto/"},
	"metrics":             {"github.com/prometheus/", "github.com/beorn7/perks", "github.com/cespare/xxhash", "github.com/munnerz/goautoneg", "google.golang.org/protobuf", "golang.org/x/sys", "github.com/twmb/franz-go/pkg/kmsg"},
}

// TestPackageDependencies enforces ARCHITECTURE.md's package boundaries with `go list -deps`, so a
// wrong arrow fails the build, and checks that no production package imports "testing".
func TestPackageDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}|{{join .Deps " "}}|{{join .Imports " "}}`, module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		parts := strings.Split(line, "|")
		pkg, deps, imports := parts[0], strings.Fields(parts[1]), strings.Fields(parts[2])
		rel := strings.TrimPrefix(strings.TrimPrefix(pkg, module), "/")
		// Direct imports only: hashicorp/raft itself imports testing (its test helpers live in
		// a non-test file), which is not ours to change.
		if slices.Contains(imports, "testing") {
			t.Errorf("%s imports testing: production packages must not", pkg)
		}
		allowed, checked := allowedImports[rel]
		if !checked {
			continue
		}
		for _, d := range deps {
			if isStdlib(d) || d == pkg {
				continue
			}
			ok := false
			for _, a := range allowed {
				if d == a || strings.HasPrefix(d, a) {
					ok = true
					break
				}
			}
			if !ok {
				t.Errorf("%s may not depend on %s (ARCHITECTURE.md's package table)", rel, d)
			}
		}
	}
}

// isStdlib reports whether an import path is the standard library's (no dot in its first
// element), including the vendored golang.org/x packages the standard library uses.
func isStdlib(p string) bool {
	first, _, _ := strings.Cut(p, "/")
	return !strings.Contains(first, ".") || strings.HasPrefix(p, "vendor/")
}
