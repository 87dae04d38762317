package broker

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/broker/security"
)

// The SCRAM credentials a node creates at start (config.ScramBootstrapProp: bitnami's
// KAFKA_CLIENT_USERS with SCRAM enabled, its inter-broker and controller users), as Kafka's
// `kafka-storage format --add-scram` puts them into the bootstrap metadata. minikraft formats no
// storage, so each broker, once registered, writes those the metadata lacks through the
// controller (AlterUserScramCredentials, as kafka-configs would) before it opens its client
// listeners, so a client that finds the port open can log in. A credential already in the
// metadata is left alone: one changed with kafka-configs keeps its new password across
// restarts, as in Kafka. Unlike Kafka, a bootstrap user deleted later is created again at the
// next start of a node that still has it configured.

// scramBootstrapWait bounds how long the client listeners wait for the bootstrap credentials;
// after it the node serves anyway and keeps trying in the background.
const scramBootstrapWait = 30 * time.Second

// serveAfterScramBootstrap creates the missing bootstrap credentials, then starts serving.
func (b *Broker) serveAfterScramBootstrap() {
	if !b.waitForOwnRegistration() {
		return
	}
	if len(b.scramBoot) == 0 {
		b.startServing()
		return
	}
	done := make(chan struct{})
	b.goBackground(func() {
		defer close(done)
		for b.ctx.Err() == nil {
			err := b.createMissingScram(b.ctx)
			if err == nil {
				return
			}
			b.log.Warn("creating the bootstrap SCRAM credentials", "err", err)
			select {
			case <-time.After(time.Second):
			case <-b.ctx.Done():
			}
		}
	})
	select {
	case <-done:
	case <-time.After(scramBootstrapWait):
		b.log.Warn("serving before the bootstrap SCRAM credentials exist", "waited", scramBootstrapWait)
	case <-b.ctx.Done():
		return
	}
	b.startServing()
}

// missingScram lists the bootstrap users the current metadata has no credential for.
func (b *Broker) missingScram() []security.ScramUser {
	st := b.meta.State()
	var out []security.ScramUser
	for _, u := range b.scramBoot {
		if _, ok := st.Scram(u.Name, scramMechanismIDs[u.Mechanism]); !ok {
			out = append(out, u)
		}
	}
	return out
}

// createMissingScram sends one AlterUserScramCredentials for the missing credentials and waits
// until this node's metadata has them.
func (b *Broker) createMissingScram(ctx context.Context) error {
	missing := b.missingScram()
	if len(missing) == 0 {
		return nil
	}
	req := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	seen := map[[2]string]bool{}
	for _, u := range missing {
		if seen[[2]string{u.Name, u.Mechanism}] {
			continue // the same user twice (bitnami's client and inter-broker user): first wins
		}
		seen[[2]string{u.Name, u.Mechanism}] = true
		iters := u.Iterations
		if iters == 0 {
			iters = security.ScramMinIterations
		}
		salt := make([]byte, 32)
		if _, err := rand.Read(salt); err != nil {
			return err
		}
		salted, err := security.SaltedPassword(u.Mechanism, []byte(u.Password), salt, iters)
		if err != nil {
			return err
		}
		up := kmsg.NewAlterUserSCRAMCredentialsRequestUpsertion()
		up.Name, up.Mechanism, up.Iterations, up.Salt, up.SaltedPassword = u.Name, scramMechanismIDs[u.Mechanism], int32(iters), salt, salted
		req.Upsertions = append(req.Upsertions, up)
	}
	cctx, cancel := context.WithTimeout(ctx, controlCallTimeout)
	defer cancel()
	resp, err := b.callController(cctx, req)
	if err != nil {
		return err
	}
	for _, r := range resp.(*kmsg.AlterUserSCRAMCredentialsResponse).Results {
		if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
			return fmt.Errorf("user %s: %w", r.User, err)
		}
	}
	// The controller answered once committed; this node applies it soon after.
	for len(b.missingScram()) > 0 {
		ch := b.meta.Changed()
		if len(b.missingScram()) == 0 {
			break
		}
		select {
		case <-ch:
		case <-cctx.Done():
			return fmt.Errorf("the credentials were committed but this node has not applied them: %w", cctx.Err())
		}
	}
	b.log.Info("created the bootstrap SCRAM credentials", "count", len(req.Upsertions))
	return nil
}
