package broker

// CompleteGroupTxn tells the group coordinator that a transaction marker of producer pid is
// durable in __consumer_offsets partition p, as the partition leader's WriteTxnMarkers handler
// does once it has written it. For tests of the group side: the marker itself is not written
// (the log refuses control batches from this path).
func (b *Broker) CompleteGroupTxn(p int32, pid int64, commit bool) {
	b.groups.CompleteTxn(p, pid, commit)
}
