package broker

// AlterUserScramCredentials (key 51), version 0 (KIP-554): what `kafka-configs --alter
// --entity-type users --add-config 'SCRAM-SHA-256=[password=...]'` sends.
//
// Forwarded as itself to the active controller (control_admin.go's pattern), which validates as
// Kafka's controller does and commits every valid alteration in one raftmeta command. The client
// sends the salted password; the controller keeps only the derived StoredKey and ServerKey.
// Per user: an unknown mechanism is UNSUPPORTED_SASL_MECHANISM, iterations outside 4096-16384
// UNACCEPTABLE_CREDENTIAL, a user+mechanism altered twice DUPLICATE_RESOURCE, the deletion of a
// credential that does not exist RESOURCE_NOT_FOUND, each with Kafka's message. The answer comes
// once this broker has applied the change, so a login right after it sees the new credential.

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/broker/acl"
	"github.com/minikraft/minikraft/broker/security"
	"github.com/minikraft/minikraft/raftmeta"
	"github.com/minikraft/minikraft/wire"
)

func init() { register(51, 0, 0, (*Broker).handleAlterUserScramCredentials) }

func (b *Broker) handleAlterUserScramCredentials(ctx context.Context, r *wire.Request) wire.Future {
	req := r.Msg.(*kmsg.AlterUserSCRAMCredentialsRequest)
	if !b.checkerFor(r).cluster(acl.OpAlter) { // Kafka: ALTER on the cluster, else every user fails
		out := req.ResponseKind().(*kmsg.AlterUserSCRAMCredentialsResponse)
		for _, u := range scramUsers(req) {
			res := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
			res.User, res.ErrorCode = u, errClusterAuth.Code
			out.Results = append(out.Results, res)
		}
		return wire.Done(out, nil)
	}
	fwd := *req
	cctx, cancel := context.WithTimeout(ctx, controlCallTimeout)
	defer cancel()
	resp, err := b.callController(cctx, &fwd)
	if err != nil && resp == nil {
		// The controller could not be reached: every user gets the error.
		out := req.ResponseKind().(*kmsg.AlterUserSCRAMCredentialsResponse)
		for _, u := range scramUsers(req) {
			res := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
			res.User, res.ErrorCode, res.ErrorMessage = u, errorCode(err), errorMessage(err)
			out.Results = append(out.Results, res)
		}
		return wire.Done(out, nil)
	}
	resp.SetVersion(req.Version)
	return wire.Done(resp, nil)
}

// scramUsers lists the request's users in order of first appearance.
func scramUsers(req *kmsg.AlterUserSCRAMCredentialsRequest) []string {
	var users []string
	seen := map[string]bool{}
	add := func(u string) {
		if !seen[u] {
			seen[u] = true
			users = append(users, u)
		}
	}
	for _, d := range req.Deletions {
		add(d.Name)
	}
	for _, u := range req.Upsertions {
		add(u.Name)
	}
	return users
}

var scramMechanismNames = map[int8]string{raftmeta.ScramSHA256: security.ScramSHA256, raftmeta.ScramSHA512: security.ScramSHA512}

// errScram is a per-user error with Kafka's message.
type errScram struct {
	code *kerr.Error
	msg  string
}

func (e *errScram) Error() string { return e.msg }
func (e *errScram) Unwrap() error { return e.code }

// serveAlterUserScramCredentials validates and commits the alterations on the active controller.
func (b *Broker) serveAlterUserScramCredentials(ctx context.Context, r *kmsg.AlterUserSCRAMCredentialsRequest) kmsg.Response {
	resp := r.ResponseKind().(*kmsg.AlterUserSCRAMCredentialsResponse)
	users := scramUsers(r)
	userErr := map[string]error{}
	fail := func(user string, code *kerr.Error, msg string) {
		if userErr[user] == nil {
			userErr[user] = &errScram{code, msg}
		}
	}
	if err := b.activeController(); err != nil {
		for _, u := range users {
			userErr[u] = err
		}
	}
	st := b.meta.State()
	pairs := map[raftmeta.ScramKey]int{}
	for _, d := range r.Deletions {
		pairs[raftmeta.ScramKey{User: d.Name, Mechanism: d.Mechanism}]++
	}
	for _, u := range r.Upsertions {
		pairs[raftmeta.ScramKey{User: u.Name, Mechanism: u.Mechanism}]++
	}
	for k, n := range pairs {
		if n > 1 {
			fail(k.User, kerr.DuplicateResource, "A user credential cannot be altered twice in the same request")
		}
	}
	var cmd raftmeta.AlterScramCredentials
	for _, d := range r.Deletions {
		k := raftmeta.ScramKey{User: d.Name, Mechanism: d.Mechanism}
		switch _, known := st.Scram(d.Name, d.Mechanism); {
		case d.Name == "":
			fail(d.Name, kerr.UnacceptableCredential, "Username must not be empty")
		case scramMechanismNames[d.Mechanism] == "":
			fail(d.Name, kerr.UnsupportedSaslMechanism, "Unknown SCRAM mechanism")
		case !known:
			fail(d.Name, kerr.ResourceNotFound, "Attempt to delete a user credential that does not exist")
		default:
			cmd.Delete = append(cmd.Delete, k)
		}
	}
	for _, u := range r.Upsertions {
		name := scramMechanismNames[u.Mechanism]
		switch {
		case u.Name == "":
			fail(u.Name, kerr.UnacceptableCredential, "Username must not be empty")
		case name == "":
			fail(u.Name, kerr.UnsupportedSaslMechanism, "Unknown SCRAM mechanism")
		case u.Iterations < security.ScramMinIterations:
			fail(u.Name, kerr.UnacceptableCredential, "Too few iterations")
		case u.Iterations > security.ScramMaxIterations:
			fail(u.Name, kerr.UnacceptableCredential, "Too many iterations")
		case len(u.Salt) == 0 || len(u.SaltedPassword) == 0:
			fail(u.Name, kerr.UnacceptableCredential, "Salt and salted password must not be empty")
		default:
			stored, server := security.ScramKeys(name, u.SaltedPassword)
			cmd.Upsert = append(cmd.Upsert, raftmeta.ScramEntry{
				Key:        raftmeta.ScramKey{User: u.Name, Mechanism: u.Mechanism},
				Credential: raftmeta.ScramCredential{Salt: u.Salt, StoredKey: stored, ServerKey: server, Iterations: u.Iterations},
			})
		}
	}
	// A user with any bad alteration has none applied, as in Kafka.
	keep := func(k raftmeta.ScramKey) bool { return userErr[k.User] == nil }
	var final raftmeta.AlterScramCredentials
	for _, k := range cmd.Delete {
		if keep(k) {
			final.Delete = append(final.Delete, k)
		}
	}
	for _, e := range cmd.Upsert {
		if keep(e.Key) {
			final.Upsert = append(final.Upsert, e)
		}
	}
	if len(final.Delete)+len(final.Upsert) > 0 {
		if err := b.ctrl.AlterScramCredentials(ctx, final); err != nil {
			for _, u := range users {
				if userErr[u] == nil {
					userErr[u] = err
				}
			}
		}
	}
	for _, u := range users {
		res := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
		res.User = u
		if err := userErr[u]; err != nil {
			var se *errScram
			if errors.As(err, &se) {
				res.ErrorCode, res.ErrorMessage = se.code.Code, kmsg.StringPtr(se.msg)
			} else {
				res.ErrorCode, res.ErrorMessage = errorCode(err), errorMessage(err)
			}
		}
		resp.Results = append(resp.Results, res)
	}
	return resp
}
