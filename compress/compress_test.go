package compress

import (
	"bytes"
	"errors"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/twmb/franz-go/pkg/kgo"
)

var codecs = []struct {
	name  string
	id    int
	codec kgo.CompressionCodec
}{
	{"gzip", Gzip, kgo.GzipCompression()},
	{"snappy", Snappy, kgo.SnappyCompression()},
	{"lz4", Lz4, kgo.Lz4Compression()},
	{"zstd", Zstd, kgo.ZstdCompression()},
}

// TestCodecsAgainstFranzGo checks every codec against franz-go's, both
// ways, and that Decompress appends to dst.
func TestCodecsAgainstFranzGo(t *testing.T) {
	src := bytes.Repeat([]byte("minikraft compacts records; "), 5000) // several xerial blocks
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			comp, err := kgo.DefaultCompressor(c.codec)
			if err != nil {
				t.Fatal(err)
			}
			theirs, _ := comp.Compress(new(bytes.Buffer), src)
			got, err := Codecs{}.Decompress(c.id, []byte("head"), theirs)
			if err != nil || !bytes.Equal(got, append([]byte("head"), src...)) {
				t.Fatalf("decompressing franz-go's: %v", err)
			}
			ours, err := Codecs{}.Compress(c.id, []byte("prefix"), src)
			if err != nil || !bytes.HasPrefix(ours, []byte("prefix")) {
				t.Fatal(err)
			}
			got, err = kgo.DefaultDecompressor().Decompress(ours[len("prefix"):], kgo.CompressionCodecType(c.id))
			if err != nil || !bytes.Equal(got, src) {
				t.Fatalf("franz-go decompressing ours: %v", err)
			}
		})
	}
	if _, err := (Codecs{}).Decompress(9, nil, nil); !errors.Is(err, ErrUnknownCodec) {
		t.Fatalf("unknown codec: %v", err)
	}
	if _, err := (Codecs{}).Compress(0, nil, nil); !errors.Is(err, ErrUnknownCodec) {
		t.Fatalf("unknown codec: %v", err)
	}
}

// TestRawSnappy: a raw snappy block (franz-go, librdkafka) decodes as well
// as the xerial framing Compress writes.
func TestRawSnappy(t *testing.T) {
	src := []byte("a raw snappy block, no xerial framing")
	raw := s2.EncodeSnappy(nil, src)
	got, err := Codecs{}.Decompress(Snappy, nil, raw)
	if err != nil || !bytes.Equal(got, src) {
		t.Fatalf("raw snappy: %q %v", got, err)
	}
	framed := xerialEncode(nil, src)
	for _, bad := range [][]byte{framed[:len(xerialHeader)+2], append(framed[:len(xerialHeader):len(xerialHeader)], 0, 0, 1, 0, 1)} {
		if _, err := (Codecs{}).Decompress(Snappy, nil, bad); err == nil {
			t.Fatalf("malformed xerial %x accepted", bad)
		}
	}
}

// TestDecompressLimit: a payload that decompresses past MaxDecompressed
// fails with ErrTooLarge in every codec, and leaves dst as it was;
// exactly MaxDecompressed bytes are accepted.
func TestDecompressLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("compresses 4 x 64 MiB")
	}
	big := make([]byte, MaxDecompressed+1)
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			z, err := Codecs{}.Compress(c.id, nil, big)
			if err != nil {
				t.Fatal(err)
			}
			out, err := Codecs{}.Decompress(c.id, []byte("keep"), z)
			if !errors.Is(err, ErrTooLarge) || string(out) != "keep" {
				t.Fatalf("%d compressed bytes: %d out, %v", len(z), len(out), err)
			}
			var tl interface{ TooLarge() bool }
			if !errors.As(err, &tl) || !tl.TooLarge() {
				t.Fatal("ErrTooLarge lacks TooLarge")
			}
			z, _ = Codecs{}.Compress(c.id, nil, big[:MaxDecompressed])
			if out, err := (Codecs{}).Decompress(c.id, nil, z); err != nil || len(out) != MaxDecompressed {
				t.Fatalf("at the limit: %d %v", len(out), err)
			}
		})
	}
}

// TestDecompressReusesDst: with enough spare capacity nothing is allocated.
func TestDecompressReusesDst(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	src := bytes.Repeat([]byte("record "), 2000)
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			z, _ := Codecs{}.Compress(c.id, nil, src)
			buf := make([]byte, 0, 64<<10)
			Codecs{}.Decompress(c.id, buf, z) // warm the pools
			allocs := testing.AllocsPerRun(20, func() {
				out, err := Codecs{}.Decompress(c.id, buf, z)
				if err != nil || len(out) != len(src) {
					t.Fatal(err)
				}
			})
			if allocs > 2 { // bytes.Reader
				t.Fatalf("%v allocations", allocs)
			}
		})
	}
}
