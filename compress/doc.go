// Package compress holds the record-batch codecs Kafka defines (attribute
// bits 0-2 of a RecordBatch v2): 1 gzip, 2 snappy, 3 lz4, 4 zstd. It is the
// one place minikraft compresses or decompresses records; the log package,
// which imports nothing outside the standard library, takes it through
// log.Options.Codecs and log.ValidateBatches' codecs argument.
//
// Formats are the ones Kafka's clients write: gzip streams (RFC 1952),
// snappy either as one raw block (franz-go, librdkafka) or in the xerial
// framing of the Java client's SnappyOutputStream (a 16-byte header, then
// blocks each prefixed by a big-endian int32 length), lz4 frames, and zstd
// frames. Snappy is written xerial-framed, which every client reads.
//
// Decompression appends to a caller's buffer (so the log can pool them)
// and stops with ErrTooLarge once a batch's records pass MaxDecompressed,
// so a small compressed batch cannot make the broker allocate without
// bound. Decoders are pooled or shared; nothing is allocated per record.
package compress
