package broker

import (
	"bufio"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/minikraft/minikraft/broker/config"
	"github.com/minikraft/minikraft/internal/uuid"
)

// metaPropertiesFile is Kafka's per-directory identity file.
const metaPropertiesFile = "meta.properties"

// openDataDir creates and locks the data directory and reconciles meta.properties with the
// configured node id and cluster id: a directory formatted for another node or cluster is refused,
// as Kafka refuses it, because serving it would mix two clusters' data.
func (b *Broker) openDataDir() error {
	if err := os.MkdirAll(b.dataDir, 0o755); err != nil {
		return fmt.Errorf("broker: data dir: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(b.dataDir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("broker: data dir: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return fmt.Errorf("broker: data dir %s is in use by another process (lock: %w)", b.dataDir, err)
	}
	b.lock = lock

	props, err := readProperties(filepath.Join(b.dataDir, metaPropertiesFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
		props = nil
	case err != nil:
		return fmt.Errorf("broker: %s: %w", metaPropertiesFile, err)
	}
	bc := &b.cfg.Broker
	if props != nil {
		if id, ok := props["node.id"]; ok && id != strconv.Itoa(int(bc.NodeID)) {
			return fmt.Errorf("broker: data dir %s belongs to node.id %s, but this node is %d", b.dataDir, id, bc.NodeID)
		}
		if cid := props["cluster.id"]; cid != "" {
			if bc.ClusterID != "" && bc.ClusterID != cid {
				return fmt.Errorf("broker: data dir %s belongs to cluster %s, but the configured cluster id is %s", b.dataDir, cid, bc.ClusterID)
			}
			bc.ClusterID = cid
		}
	}
	if bc.ClusterID == "" {
		bc.ClusterID = defaultClusterID(bc.Voters)
	}
	if props == nil || props["cluster.id"] == "" {
		return writeMetaProperties(b.dataDir, bc.NodeID, bc.ClusterID)
	}
	return nil
}

func (b *Broker) clusterID() string { return b.cfg.Broker.ClusterID }

// newClusterID makes an id in Kafka's form: 16 random bytes, URL-safe base64 without padding.
func newClusterID() string {
	u := uuid.New()
	return base64.RawURLEncoding.EncodeToString(u[:])
}

// defaultClusterID is the cluster id of a cluster started without one. A lone voter makes a
// random one. Several voters must agree without talking first, so theirs is derived from the
// voters list they all share; Kafka instead refuses to start unformatted nodes, and bitnami
// generates one per node, which only works when the user sets KAFKA_KRAFT_CLUSTER_ID.
func defaultClusterID(voters []config.Voter) string {
	if len(voters) <= 1 {
		return newClusterID()
	}
	ids := make([]string, len(voters))
	for i, v := range voters {
		ids[i] = v.String()
	}
	slices.Sort(ids)
	sum := sha256.Sum256([]byte(strings.Join(ids, ",")))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

func writeMetaProperties(dir string, nodeID int32, clusterID string) error {
	content := fmt.Sprintf("#\n#%s\nnode.id=%d\nversion=1\ncluster.id=%s\n",
		time.Now().UTC().Format(time.UnixDate), nodeID, clusterID)
	tmp := filepath.Join(dir, metaPropertiesFile+".tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		return fmt.Errorf("broker: writing %s: %w", metaPropertiesFile, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, metaPropertiesFile)); err != nil {
		return fmt.Errorf("broker: writing %s: %w", metaPropertiesFile, err)
	}
	return nil
}

// readProperties reads the simple key=value files Kafka writes itself (meta.properties,
// partition.metadata), skipping comments.
func readProperties(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	props := make(map[string]string)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			k, v, ok = strings.Cut(line, ":")
		}
		if ok {
			props[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return props, sc.Err()
}
