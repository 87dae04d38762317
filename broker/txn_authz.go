package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/broker/acl"
)

// The transaction APIs' authorization (Kafka's KafkaApis), around broker/txn as group_authz.go
// is around broker/group:
//
//	InitProducerId          WRITE on the transactional id; without one IDEMPOTENT_WRITE on the
//	                        cluster or WRITE on some topic (KIP-679), else CLUSTER_AUTHORIZATION_FAILED
//	AddPartitionsToTxn v0-3 WRITE on the transactional id, WRITE on each topic (a denied topic
//	                        fails the request: the others answer OPERATION_NOT_ATTEMPTED)
//	AddPartitionsToTxn v4   CLUSTER_ACTION on the cluster (brokers' verification)
//	AddOffsetsToTxn         WRITE on the transactional id, READ on the group
//	EndTxn                  WRITE on the transactional id
//	DescribeTransactions    DESCRIBE on each transactional id; topics it may not DESCRIBE left out
//	ListTransactions        only the transactional ids it may DESCRIBE
func authorizeTxnRequest(az checker, msg kmsg.Request) (early kmsg.Response, post func(kmsg.Response)) {
	switch r := msg.(type) {
	case *kmsg.InitProducerIDRequest:
		if r.TransactionalID != nil && !az.txnID(acl.OpWrite, *r.TransactionalID) {
			resp := r.ResponseKind().(*kmsg.InitProducerIDResponse)
			resp.ProducerID, resp.ProducerEpoch, resp.ErrorCode = -1, -1, errTxnIDAuth.Code
			return resp, nil
		}
	case *kmsg.AddPartitionsToTxnRequest:
		resp := r.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
		if r.Version >= 4 {
			if !az.cluster(acl.OpClusterAction) {
				resp.ErrorCode = errClusterAuth.Code
				return resp, nil
			}
			return nil, nil
		}
		txnDenied := !az.txnID(acl.OpWrite, r.TransactionalID)
		anyDenied := txnDenied
		denied := map[string]bool{}
		for _, t := range r.Topics {
			if !txnDenied && !az.topic(acl.OpWrite, t.Topic) {
				denied[t.Topic], anyDenied = true, true
			}
		}
		if !anyDenied {
			return nil, nil
		}
		for _, t := range r.Topics {
			rt := kmsg.NewAddPartitionsToTxnResponseTopic()
			rt.Topic = t.Topic
			code := kerr.OperationNotAttempted.Code
			switch {
			case txnDenied:
				code = errTxnIDAuth.Code
			case denied[t.Topic]:
				code = errTopicAuth.Code
			}
			for _, p := range t.Partitions {
				rp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p, code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil
	case *kmsg.AddOffsetsToTxnRequest:
		code := int16(0)
		switch {
		case !az.txnID(acl.OpWrite, r.TransactionalID):
			code = errTxnIDAuth.Code
		case !az.group(acl.OpRead, r.Group):
			code = errGroupAuth.Code
		}
		if code != 0 {
			resp := r.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
			resp.ErrorCode = code
			return resp, nil
		}
	case *kmsg.EndTxnRequest:
		if !az.txnID(acl.OpWrite, r.TransactionalID) {
			resp := r.ResponseKind().(*kmsg.EndTxnResponse)
			resp.ErrorCode = errTxnIDAuth.Code
			return resp, nil
		}
	case *kmsg.DescribeTransactionsRequest:
		return nil, func(resp kmsg.Response) {
			out := resp.(*kmsg.DescribeTransactionsResponse)
			for i := range out.TransactionStates {
				s := &out.TransactionStates[i]
				if !az.txnID(acl.OpDescribe, s.TransactionalID) {
					denied := kmsg.NewDescribeTransactionsResponseTransactionState()
					denied.TransactionalID, denied.ErrorCode = s.TransactionalID, errTxnIDAuth.Code
					*s = denied
					continue
				}
				kept := s.Topics[:0]
				for _, t := range s.Topics {
					if az.topic(acl.OpDescribe, t.Topic) {
						kept = append(kept, t)
					}
				}
				s.Topics = kept
			}
		}
	case *kmsg.ListTransactionsRequest:
		return nil, func(resp kmsg.Response) {
			out := resp.(*kmsg.ListTransactionsResponse)
			kept := out.TransactionStates[:0]
			for _, s := range out.TransactionStates {
				if az.txnID(acl.OpDescribe, s.TransactionalID) {
					kept = append(kept, s)
				}
			}
			out.TransactionStates = kept
		}
	}
	return nil, nil
}

// authorizeIdempotent is InitProducerId's check without a transactional id.
func authorizeIdempotent(az checker) bool {
	if !az.enabled() || az.cluster(acl.OpIdempotentWrite) {
		return true
	}
	return az.a.AuthorizeAny(az.principal, az.host, acl.OpWrite, acl.ResTopic)
}
