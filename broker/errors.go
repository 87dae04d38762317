package broker

import (
	"context"
	"errors"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/minikraft/minikraft/broker/config"
	"github.com/minikraft/minikraft/broker/controller"
	"github.com/minikraft/minikraft/broker/partition"
	"github.com/minikraft/minikraft/log"
	"github.com/minikraft/minikraft/raftmeta"
)

// brokerNotRegisteredCode is BROKER_ID_NOT_REGISTERED, the controller's answer to a heartbeat
// from a broker (incarnation) it has no registration for.
const brokerNotRegisteredCode int16 = 102

// errorCode maps an error from the packages below the broker to the Kafka error code a client
// understands. Unknown errors are UNKNOWN_SERVER_ERROR, which clients treat as fatal for the
// request: every error that can reach a client should have an entry here.
func errorCode(err error) int16 {
	if err == nil {
		return 0 // before ke, which errors.As moves to the heap: no allocation for success
	}
	var ke *kerr.Error
	switch {
	case errors.As(err, &ke):
		return ke.Code
	case errors.Is(err, partition.ErrNotLeader), errors.Is(err, partition.ErrClosed):
		return kerr.NotLeaderForPartition.Code
	case errors.Is(err, partition.ErrNotEnoughReplicas):
		return kerr.NotEnoughReplicas.Code
	case errors.Is(err, partition.ErrNotEnoughReplicasAfterAppend):
		return kerr.NotEnoughReplicasAfterAppend.Code
	case errors.Is(err, partition.ErrOutOfOrderSequence):
		return kerr.OutOfOrderSequenceNumber.Code
	case errors.Is(err, partition.ErrInvalidProducerEpoch):
		return kerr.InvalidProducerEpoch.Code
	case errors.Is(err, partition.ErrInvalidTxnState):
		return kerr.InvalidTxnState.Code
	case errors.Is(err, partition.ErrCoordinatorFenced):
		return kerr.TransactionCoordinatorFenced.Code
	case errors.Is(err, partition.ErrFencedLeaderEpoch):
		return kerr.FencedLeaderEpoch.Code
	case errors.Is(err, partition.ErrUnknownLeaderEpoch):
		return kerr.UnknownLeaderEpoch.Code
	case errors.Is(err, partition.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return kerr.RequestTimedOut.Code
	case errors.Is(err, log.ErrOffsetOutOfRange):
		return kerr.OffsetOutOfRange.Code
	case errors.Is(err, log.ErrStorage):
		return kerr.KafkaStorageError.Code
	case errors.Is(err, log.ErrCorruptBatch):
		return kerr.CorruptMessage.Code
	case errors.Is(err, log.ErrBatchTooLarge):
		return kerr.MessageTooLarge.Code
	case errors.Is(err, log.ErrInvalidRecord):
		return kerr.InvalidRecord.Code
	case errors.Is(err, log.ErrClosed):
		return kerr.NotLeaderForPartition.Code
	case errors.Is(err, config.ErrInvalidConfig):
		return kerr.InvalidConfig.Code
	case errors.Is(err, raftmeta.ErrTopicExists):
		return kerr.TopicAlreadyExists.Code
	case errors.Is(err, raftmeta.ErrUnknownTopic):
		return kerr.UnknownTopicOrPartition.Code
	case errors.Is(err, raftmeta.ErrNotLeader):
		return kerr.NotController.Code
	case errors.Is(err, raftmeta.ErrTimeout):
		return kerr.RequestTimedOut.Code
	case errors.Is(err, controller.ErrUnknownBroker):
		return brokerNotRegisteredCode
	case errors.Is(err, controller.ErrFencedLeader):
		return kerr.FencedLeaderEpoch.Code
	case errors.Is(err, controller.ErrInvalidUpdateVersion):
		return kerr.InvalidUpdateVersion.Code
	case errors.Is(err, controller.ErrIneligibleReplica):
		return kerr.IneligibleReplica.Code
	case errors.Is(err, controller.ErrElectionNotNeeded):
		return kerr.ElectionNotNeeded.Code
	case errors.Is(err, controller.ErrPreferredLeaderNotAvailable):
		return kerr.PreferredLeaderNotAvailable.Code
	case errors.Is(err, controller.ErrEligibleLeadersNotAvailable):
		return kerr.EligibleLeadersNotAvailable.Code
	case errors.Is(err, controller.ErrInvalidReplicationFactor):
		return kerr.InvalidReplicationFactor.Code
	case errors.Is(err, controller.ErrInvalidPartitions):
		return kerr.InvalidPartitions.Code
	case errors.Is(err, controller.ErrInvalidReplicaAssignment):
		return kerr.InvalidReplicaAssignment.Code
	case errors.Is(err, controller.ErrNoReassignmentInProgress):
		return kerr.NoReassignmentInProgress.Code
	}
	return kerr.UnknownServerError.Code
}

// errorMessage is the text for a response's ErrorMessage field: nil for success and for a bare
// Kafka error (the client knows its description), otherwise the message without the sentinel
// prefix, so that `fmt.Errorf("%w: Topic 'x' already exists.", ErrTopicExists)` reads to the
// user as Kafka's "Topic 'x' already exists.".
func errorMessage(err error) *string {
	if err == nil {
		return nil
	}
	var ke *kerr.Error
	if errors.As(err, &ke) && err == error(ke) {
		return nil
	}
	s := err.Error()
	if inner := errors.Unwrap(err); inner != nil {
		s = strings.TrimPrefix(s, inner.Error()+": ")
	}
	return &s
}
