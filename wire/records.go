package wire

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Records is a record set a Fetch response carries without holding its bytes: typically ranges of
// segment files that the log keeps open until Release, written to the socket with sendfile(2) so
// that sealed log data goes from the page cache to the client without passing through Go memory.
// (log.Records implements it.)
type Records interface {
	// Len is the number of bytes WriteTo writes.
	Len() int
	// WriteTo writes exactly Len bytes to w.
	WriteTo(w io.Writer) (int64, error)
	// Release gives back what the record set holds. It may be called more than once.
	Release()
}

// FetchResponse is a Fetch response some of whose partitions' record sets are Records instead of
// RecordBatches. A handler returns it in place of the *kmsg.FetchResponse it wraps. The connection
// writes large Records straight to the socket, copies small ones into the response, and releases
// every one of them once the response is written, or dropped (connection closed, encoding failed).
type FetchResponse struct {
	*kmsg.FetchResponse
	// Records[i][j], when not nil, is the record set of Topics[i].Partitions[j], in place of its
	// RecordBatches. Records may be shorter than Topics, and each row shorter than Partitions.
	Records [][]Records
}

// Release releases every Records of the response. Safe to call more than once.
func (r *FetchResponse) Release() {
	for _, row := range r.Records {
		for _, rec := range row {
			if rec != nil {
				rec.Release()
			}
		}
	}
}

// SetRecords makes rec the record set of Topics[i].Partitions[j] (which may not exist yet: the
// response can be filled as it is built).
func (r *FetchResponse) SetRecords(i, j int, rec Records) {
	for len(r.Records) <= i {
		r.Records = append(r.Records, nil)
	}
	for len(r.Records[i]) <= j {
		r.Records[i] = append(r.Records[i], nil)
	}
	r.Records[i][j] = rec
}

// at returns the Records of Topics[i].Partitions[j], or nil.
func (r *FetchResponse) at(i, j int) Records {
	if r == nil || i >= len(r.Records) || j >= len(r.Records[i]) {
		return nil
	}
	return r.Records[i][j]
}

// inline reads every Records shorter than minSplice (all of them if minSplice is math.MaxInt)
// into its partition's RecordBatches and releases it: below that size a copy costs less than a
// write of its own. It stops at the first read error, which means the response cannot be sent.
func (r *FetchResponse) inline(minSplice int) error {
	for i, row := range r.Records {
		for j, rec := range row {
			if rec == nil || rec.Len() >= minSplice {
				continue
			}
			l := rec.Len()
			buf := bytes.NewBuffer(make([]byte, 0, l)) // never nil: an empty set is not a null one
			n, err := rec.WriteTo(buf)
			rec.Release()
			row[j] = nil
			if err == nil && n != int64(l) {
				err = fmt.Errorf("%w: wrote %d of %d bytes", errRecordsShort, n, l)
			}
			if err != nil {
				return fmt.Errorf("wire: reading the records of fetch partition %d: %w", r.Topics[i].Partitions[j].Partition, err)
			}
			r.Topics[i].Partitions[j].RecordBatches = buf.Bytes()
		}
	}
	return nil
}

// releaseResponse releases what a response holds (the Records of a FetchResponse) when it will
// not be written.
func releaseResponse(resp kmsg.Response) {
	if r, ok := resp.(interface{ Release() }); ok {
		r.Release()
	}
}

// errRecordsShort is a Records that wrote fewer bytes than it promised: the frame is broken.
var errRecordsShort = errors.New("wire: record set wrote fewer bytes than its length")
