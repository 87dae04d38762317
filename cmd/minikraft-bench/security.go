package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/minikraft/minikraft/internal/testcert"
)

// The -security mode measures what TLS and SASL cost (issue 15's goal: SASL_SSL throughput at
// least 0.7 of PLAINTEXT). One minikraft process per repeat has two client listeners, PLAINTEXT
// and SASL_SSL (TLS 1.3 with a P-256 certificate made here by internal/testcert, and a
// SCRAM-SHA-512 login, the user created at start through minikraft.scram.bootstrap), so both
// protocols are measured on the same node, data directory and page cache. Per record size the
// two take turns, which goes first alternating by repeat; each runs the benchmark's produce phase
// (acks=all, idempotent, 6 partitions, incompressible values, -duration) into its own topic and
// then consumes that topic from the start. Reported are the medians of records/s and MB/s, of
// the per-repeat ratio SASL_SSL / PLAINTEXT, and of the server's CPU time per MB (which isolates
// the broker's share on a machine where the client's TLS competes for the same cores).

const (
	securityUser = "bench"
	securityPass = "bench-secret"
)

// securityCerts writes a CA and a PEM keystore for 127.0.0.1 into dir and returns the keystore's
// path and the client's TLS configuration.
func securityCerts(dir string) (keystore string, client *tls.Config, err error) {
	ca, err := testcert.NewCA("minikraft-bench CA")
	if err != nil {
		return "", nil, err
	}
	leaf, err := ca.Issue("minikraft-bench", "")
	if err != nil {
		return "", nil, err
	}
	keystore = filepath.Join(dir, "keystore.pem")
	if err := os.WriteFile(keystore, append(append([]byte{}, leaf.KeyPEM...), leaf.CertPEM...), 0o600); err != nil {
		return "", nil, err
	}
	return keystore, &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}, nil
}

// startSecureMinikraft starts one node with a PLAINTEXT listener (addrs[0], also the
// inter-broker one) and a SASL_SSL listener with SCRAM-SHA-512 (addrs[1]).
func startSecureMinikraft(bin, dir, keystore string) (*server, error) {
	var ports [3]int
	for i := range ports {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		ports[i] = p
	}
	plain, secure := fmt.Sprintf("127.0.0.1:%d", ports[0]), fmt.Sprintf("127.0.0.1:%d", ports[1])
	args := []string{
		"--node-id", "0",
		"--listeners", fmt.Sprintf("PLAINTEXT://%s,SASL_SSL://%s,CONTROLLER://127.0.0.1:%d", plain, secure, ports[2]),
		"--voters", fmt.Sprintf("0@127.0.0.1:%d", ports[2]),
		"--data-dir", filepath.Join(dir, "data"),
		"--log-level", "warn",
		"--config", "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT",
		"--config", "inter.broker.listener.name=PLAINTEXT",
		"--config", "ssl.keystore.type=PEM",
		"--config", "ssl.keystore.location=" + keystore,
		"--config", "sasl.enabled.mechanisms=SCRAM-SHA-512",
		"--config", fmt.Sprintf("minikraft.scram.bootstrap=SCRAM-SHA-512=[name=%s,password=%s]", securityUser, securityPass),
	}
	return launch(dir, []string{plain, secure}, bin, args...)
}

// securityRun is one protocol's figures in one repeat at one size.
type securityRun struct {
	produce, consume     rate
	prodCPU, consCPU     float64 // server CPU ms per MB of values
	prodRatio, consRatio float64 // SASL_SSL / PLAINTEXT of the same repeat (on the SASL_SSL run)
}

func runSecurity(ctx context.Context, o options) error {
	work, err := os.MkdirTemp("", "minikraft-bench-security-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	bin, err := minikraftBinary(ctx, o, work)
	if err != nil {
		return err
	}
	keystore, tc, err := securityCerts(work)
	if err != nil {
		return err
	}
	secureOpts := []kgo.Opt{kgo.DialTLSConfig(tc),
		kgo.SASL(scram.Auth{User: securityUser, Pass: securityPass}.AsSha512Mechanism())}
	protos := []string{"PLAINTEXT", "SASL_SSL"}
	runs := map[string][]securityRun{} // by protocol and size
	key := func(p string, size int) string { return fmt.Sprintf("%s/%d", p, size) }
	for rep := 0; rep < o.repeat; rep++ {
		dir := filepath.Join(work, fmt.Sprint("run-", rep))
		if err := securityRepeat(ctx, bin, dir, keystore, secureOpts, rep, o, func(proto string, size int, r securityRun) {
			runs[key(proto, size)] = append(runs[key(proto, size)], r)
		}); err != nil {
			return fmt.Errorf("repeat %d: %w", rep+1, err)
		}
		os.RemoveAll(dir)
	}
	for _, size := range o.sizes {
		p, s := runs[key(protos[0], size)], runs[key(protos[1], size)]
		for i := range s {
			s[i].prodRatio = s[i].produce.mbps / p[i].produce.mbps
			s[i].consRatio = s[i].consume.mbps / p[i].consume.mbps
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "## SASL_SSL (SCRAM-SHA-512, TLS) against PLAINTEXT, one minikraft node (%s per phase, median of %d alternating runs)\n\n", o.duration, o.repeat)
	b.WriteString("| value size | protocol | produce records/s | produce MB/s | produce ratio | server CPU ms/MB (produce) | consume MB/s | consume ratio | server CPU ms/MB (consume) |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, size := range o.sizes {
		for _, proto := range protos {
			rs := runs[key(proto, size)]
			med := func(get func(securityRun) float64) float64 { return medianOf(rs, get) }
			ratio := func(get func(securityRun) float64) string {
				if proto == protos[0] {
					return "1"
				}
				return fmt.Sprintf("%.2f", med(get))
			}
			fmt.Fprintf(&b, "| %s | %s | %.0f | %.1f | %s | %.1f | %.1f | %s | %.1f |\n", sizeLabel(size), proto,
				med(func(r securityRun) float64 { return r.produce.recps }), med(func(r securityRun) float64 { return r.produce.mbps }),
				ratio(func(r securityRun) float64 { return r.prodRatio }), med(func(r securityRun) float64 { return r.prodCPU }),
				med(func(r securityRun) float64 { return r.consume.mbps }), ratio(func(r securityRun) float64 { return r.consRatio }),
				med(func(r securityRun) float64 { return r.consCPU }))
		}
	}
	b.WriteString("\nRatios are medians of each repeat's SASL_SSL / PLAINTEXT (MB/s); the server's CPU is utime+stime from /proc.\n")
	fmt.Print(b.String())
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(o.out, "security.md"), []byte(b.String()), 0o644)
}

// securityRepeat starts a fresh node and measures both protocols at every size, the first
// protocol alternating with rep.
func securityRepeat(ctx context.Context, bin, dir, keystore string, secureOpts []kgo.Opt, rep int, o options, add func(string, int, securityRun)) error {
	s, err := startSecureMinikraft(bin, dir, keystore)
	if err != nil {
		return err
	}
	defer s.stop()
	if err := s.waitListening(ctx); err != nil {
		return err
	}
	plainAddr := s.addrs[:1]
	if err := waitWritable(ctx, plainAddr); err != nil {
		return err
	}
	var topics []string
	for _, size := range o.sizes {
		topics = append(topics, fmt.Sprint("plain-", size), fmt.Sprint("secure-", size))
	}
	if err := createTopics(ctx, plainAddr, o.partitions, 1, topics); err != nil {
		return err
	}
	for _, size := range o.sizes {
		order := []int{0, 1}
		if rep%2 == 1 {
			order = []int{1, 0}
		}
		for _, i := range order {
			proto, addrs, topic, extra := "PLAINTEXT", s.addrs[:1], fmt.Sprint("plain-", size), []kgo.Opt(nil)
			if i == 1 {
				proto, addrs, topic, extra = "SASL_SSL", s.addrs[1:], fmt.Sprint("secure-", size), secureOpts
			}
			r, err := securityOnce(ctx, s, addrs, topic, size, extra, o)
			if err != nil {
				return fmt.Errorf("%s %s: %w", proto, sizeLabel(size), err)
			}
			fmt.Fprintf(os.Stderr, "repeat %d/%d %s %s: produce %.1f MB/s (%.1f server CPU ms/MB), consume %.1f MB/s (%.1f)\n",
				rep+1, o.repeat, proto, sizeLabel(size), r.produce.mbps, r.prodCPU, r.consume.mbps, r.consCPU)
			add(proto, size, r)
		}
	}
	return nil
}

// securityOnce runs one produce phase and one consume phase of the topic through addrs.
func securityOnce(ctx context.Context, s *server, addrs []string, topic string, size int, extra []kgo.Opt, o options) (securityRun, error) {
	var r securityRun
	cpu0, err := s.cpuTime()
	if err != nil {
		return r, err
	}
	var n int64
	if r.produce, n, err = producePhaseWith(ctx, addrs, topic, size, o.duration, extra); err != nil {
		return r, err
	}
	cpu1, err := s.cpuTime()
	if err != nil {
		return r, err
	}
	if r.consume, err = consumePhaseWith(ctx, addrs, topic, n, 2*o.duration+10*time.Second, extra); err != nil {
		return r, err
	}
	cpu2, err := s.cpuTime()
	if err != nil {
		return r, err
	}
	mb := float64(n) * float64(size) / 1e6
	r.prodCPU = float64((cpu1 - cpu0).Milliseconds()) / mb
	r.consCPU = float64((cpu2 - cpu1).Milliseconds()) / mb
	return r, nil
}
