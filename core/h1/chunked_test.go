package h1

import (
	"bytes"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// scanAll feeds in to a fresh scanner in pieces of at most step bytes
// (0: whole) and returns the total bytes consumed, done and the error.
func scanAll(in []byte, step int) (int, bool, error) {
	var c ChunkedScanner
	total := 0
	for len(in) > 0 {
		p := in
		if step > 0 && len(p) > step {
			p = p[:step]
		}
		n, done, err := c.Scan(p)
		total += n
		if done || err != nil {
			return total, done, err
		}
		if n != len(p) {
			panic("scanner consumed part of a piece without finishing")
		}
		in = in[len(p):]
	}
	return total, false, nil
}

func TestChunkedScanner_Accepted(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"last chunk only", "0\r\n\r\n"},
		{"one chunk", "5\r\nhello\r\n0\r\n\r\n"},
		{"several chunks", "5\r\nhello\r\n1\r\n \r\n6\r\nworld!\r\n0\r\n\r\n"},
		{"hex sizes", "a\r\n0123456789\r\nA\r\n0123456789\r\n0\r\n\r\n"},
		{"leading zeros", "0005\r\nhello\r\n0000000000000000\r\n\r\n"},
		{"sixteen digits", "000000000000000a\r\n0123456789\r\n0\r\n\r\n"},
		{"data holding CRLF", "4\r\n\r\n\r\n\r\n0\r\n\r\n"},
		{"extension name", "5;foo\r\nhello\r\n0\r\n\r\n"},
		{"extension token value", "5;foo=bar\r\nhello\r\n0;last\r\n\r\n"},
		{"extension quoted value", "5;foo=\"b a;r\\\"\"\r\nhello\r\n0\r\n\r\n"},
		{"several extensions", "5;a;b=c;d=\"e\"\r\nhello\r\n0\r\n\r\n"},
		{"extension BWS", "5 \t; a = b ;c\t=\t\"d\" ;e\r\nhello\r\n0\r\n\r\n"},
		{"trailers", "5\r\nhello\r\n0\r\nExpires: never\r\nX-Sum:\tabc \r\nEmpty:\r\n\r\n"},
		{"trailer obs-text", "0\r\nX: caf\xc3\xa9\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := []byte(tt.in + "NEXT")
			for _, step := range []int{0, 1, 2, 3, 7} {
				n, done, err := scanAll(in, step)
				if err != nil || !done || n != len(tt.in) {
					t.Fatalf("step %d: n=%d done=%t err=%v, want n=%d done", step, n, done, err, len(tt.in))
				}
			}
		})
	}
}

func TestChunkedScanner_Rejected(t *testing.T) {
	tests := []struct {
		name string
		in   string
		at   int // offset of the offending byte
		err  *Error
	}{
		{"empty size", "\r\n", 0, errChunkSize},
		{"size 0x", "0x5\r\nhello\r\n0\r\n\r\n", 1, errChunkSize},
		{"negative size", "-5\r\n", 0, errChunkSize},
		{"plus size", "+5\r\n", 0, errChunkSize},
		{"seventeen digits", "00000000000000001\r\n", 16, errChunkSizeLong},
		{"over int64", "8000000000000000\r\n", 15, errChunkSizeLong},
		{"size then space", "5 \r\nhello\r\n0\r\n\r\n", 2, errChunkExt},
		{"size then garbage", "5g\r\n", 1, errChunkSize},
		{"bare LF after size", "5\nhello\r\n0\r\n\r\n", 1, errChunkSize},
		{"bare CR after size", "5\rhello", 2, errChunkLineEnd},
		{"extension without name", "5;\r\nhello", 2, errChunkExt},
		{"extension name then space then token", "5;a b\r\n", 4, errChunkExt},
		{"extension ctl", "5;a=\x01\r\n", 4, errChunkExt},
		{"extension empty value", "5;a=\r\n", 4, errChunkExt},
		{"extension unterminated quote", "5;a=\"b\r\nhello", 6, errChunkExt},
		{"extension quoted ctl", "5;a=\"\x7f\"\r\n", 5, errChunkExt},
		{"extension trailing space", "5;a=b \r\n", 6, errChunkExt},
		{"extension bare LF", "5;a=b\nhello", 5, errChunkExt},
		{"extension too long", "5;a=" + strings.Repeat("x", MaxChunkExtBytes) + "\r\n", MaxChunkExtBytes + 1, errChunkExtLong},
		{"data too long", "5\r\nhello!\r\n0\r\n\r\n", 8, errChunkDataEnd},
		{"data too short", "5\r\nhell\r\n0\r\n\r\n", 8, errChunkDataEnd},
		{"LF only after data", "5\r\nhello\n0\r\n\r\n", 8, errChunkDataEnd},
		{"CR only after data", "5\r\nhello\r0\r\n\r\n", 9, errChunkDataEnd},
		{"LF-only lines", "5\nhello\n0\n\n", 1, errChunkSize},
		{"last chunk LF only", "0\n\n", 1, errChunkSize},
		{"final CRLF missing LF", "0\r\n\rX", 4, errTrailerField},
		{"final bare LF", "0\r\n\n", 3, errTrailerField},
		{"trailer space in name", "0\r\nBad Name: x\r\n\r\n", 6, errTrailerField},
		{"trailer space before colon", "0\r\nName : x\r\n\r\n", 7, errTrailerField},
		{"trailer no colon", "0\r\nName\r\n\r\n", 7, errTrailerField},
		{"trailer empty name", "0\r\n: x\r\n\r\n", 3, errTrailerField},
		{"trailer obs-fold", "0\r\nA: b\r\n c\r\n\r\n", 9, errTrailerField},
		{"trailer nul", "0\r\nA: \x00\r\n\r\n", 6, errTrailerField},
		{"trailer bare LF", "0\r\nA: b\n\r\n", 7, errTrailerField},
		{"trailer bare CR", "0\r\nA: b\rc\r\n\r\n", 8, errTrailerField},
		{"trailers too long", "0\r\nA: " + strings.Repeat("b", MaxTrailerBytes) + "\r\n\r\n", 3 + MaxTrailerBytes, errTrailerTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, step := range []int{0, 1, 5} {
				n, done, err := scanAll([]byte(tt.in), step)
				if err != tt.err || done || n != tt.at {
					t.Fatalf("step %d: n=%d done=%t err=%v, want n=%d err=%v", step, n, done, err, tt.at, tt.err)
				}
			}
		})
	}
}

func TestChunkedScanner_Sticky(t *testing.T) {
	var c ChunkedScanner
	if _, _, err := c.Scan([]byte("x")); err != errChunkSize {
		t.Fatalf("err = %v", err)
	}
	if n, done, err := c.Scan([]byte("0\r\n\r\n")); n != 0 || done || err != errChunkSize {
		t.Fatalf("after an error: %d %t %v", n, done, err)
	}
	c.Reset()
	if n, done, err := c.Scan([]byte("0\r\n\r\n")); n != 5 || !done || err != nil {
		t.Fatalf("after Reset: %d %t %v", n, done, err)
	}
	if n, done, err := c.Scan([]byte("GET")); n != 0 || !done || err != nil {
		t.Fatalf("after done: %d %t %v", n, done, err)
	}
	if e := errChunkSize; e.Status != 400 {
		t.Fatalf("status %d", e.Status)
	}
}

func TestChunkedScanner_NoAlloc(t *testing.T) {
	body := []byte(benchChunked())
	var c ChunkedScanner
	allocs := testing.AllocsPerRun(100, func() {
		c.Reset()
		if _, done, err := c.Scan(body); !done || err != nil {
			t.Fatal(done, err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Scan allocates %v times per run", allocs)
	}
}

// benchChunked is a 16 KiB body in 1 KiB chunks, some with extensions,
// and a trailer.
func benchChunked() string {
	var b strings.Builder
	data := strings.Repeat("x", 1024)
	for i := 0; i < 16; i++ {
		if i%4 == 0 {
			b.WriteString("400;ext=\"v\"\r\n")
		} else {
			b.WriteString("400\r\n")
		}
		b.WriteString(data)
		b.WriteString("\r\n")
	}
	b.WriteString("0\r\nX-Checksum: abc\r\n\r\n")
	return b.String()
}

func BenchmarkChunkedScanner(b *testing.B) {
	body := []byte(benchChunked())
	var c ChunkedScanner
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		c.Reset()
		// Arrive in 4 KiB reads, as from a socket.
		for p := body; len(p) > 0; {
			q := p[:min(4096, len(p))]
			n, done, err := c.Scan(q)
			if err != nil {
				b.Fatal(err)
			}
			if done {
				break
			}
			p = p[n:]
		}
	}
}

// BenchmarkChunkedScanner_SmallChunks is the worst common case: a body in
// 16-byte chunks, where the scanner's per-line work dominates.
func BenchmarkChunkedScanner_SmallChunks(b *testing.B) {
	var sb strings.Builder
	for i := 0; i < 256; i++ {
		sb.WriteString("10\r\n0123456789abcdef\r\n")
	}
	sb.WriteString("0\r\n\r\n")
	body := []byte(sb.String())
	var c ChunkedScanner
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		c.Reset()
		if _, done, err := c.Scan(body); !done || err != nil {
			b.Fatal(done, err)
		}
	}
}

func TestChunkedScanner_ExtBound(t *testing.T) {
	ext := ";a=" + strings.Repeat("x", MaxChunkExtBytes-3) // exactly at the bound
	in := "5" + ext + "\r\nhello\r\n0\r\n\r\n"
	if n, done, err := scanAll([]byte(in), 0); err != nil || !done || n != len(in) {
		t.Fatalf("extensions at the bound: %d %t %v", n, done, err)
	}
	in = "5" + ext + "x\r\nhello\r\n0\r\n\r\n"
	if _, _, err := scanAll([]byte(in), 0); err != errChunkExtLong {
		t.Fatalf("extensions over the bound: %v", err)
	}
	tr := "X: " + strings.Repeat("y", MaxTrailerBytes-7) + "\r\n\r\n" // exactly at the bound
	in = "0\r\n" + tr
	if n, done, err := scanAll([]byte(in), 0); err != nil || !done || n != len(in) {
		t.Fatalf("trailers at the bound: %d %t %v", n, done, err)
	}
	in = "0\r\nX: yy" + tr[4:]
	if _, _, err := scanAll([]byte(in), 0); err != errTrailerTooLong {
		t.Fatalf("trailers over the bound: %v", err)
	}
}

type refOutcome int

const (
	refMore refOutcome = iota
	refDone
	refError
)

// refChunked is a second, deliberately different reading of RFC 9112 §7.1
// (line by line, on the whole input) for differential fuzzing. When it
// says refMore the scanner may already have found an error further into an
// unfinished line; otherwise both must agree.
func refChunked(b []byte) (int, refOutcome) {
	p := 0
	for {
		i := bytes.IndexByte(b[p:], '\n')
		if i < 0 {
			return 0, refMore
		}
		line := b[p : p+i]
		if len(line) == 0 || line[len(line)-1] != '\r' {
			return 0, refError
		}
		line = line[:len(line)-1]
		j := 0
		for j < len(line) && strings.IndexByte("0123456789abcdefABCDEF", line[j]) >= 0 {
			j++
		}
		if j == 0 || j > MaxChunkSizeDigits {
			return 0, refError
		}
		size, err := strconv.ParseUint(string(line[:j]), 16, 64)
		if err != nil || size > math.MaxInt64 {
			return 0, refError
		}
		if ext := line[j:]; len(ext) > MaxChunkExtBytes || !refExtensions(ext) {
			return 0, refError
		}
		p += i + 1
		if size == 0 {
			break
		}
		rest := uint64(len(b) - p)
		switch {
		case rest <= size:
			return 0, refMore
		case b[p+int(size)] != '\r':
			return 0, refError
		case rest == size+1:
			return 0, refMore
		case b[p+int(size)+1] != '\n':
			return 0, refError
		}
		p += int(size) + 2
	}
	start := p
	for {
		i := bytes.IndexByte(b[p:], '\n')
		if i < 0 {
			if len(b)-start > MaxTrailerBytes {
				return 0, refError
			}
			return 0, refMore
		}
		if p+i+1-start > MaxTrailerBytes {
			return 0, refError
		}
		line := b[p : p+i]
		if len(line) == 0 || line[len(line)-1] != '\r' {
			return 0, refError
		}
		line = line[:len(line)-1]
		if len(line) == 0 {
			return p + i + 1, refDone
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || !ValidFieldName(name) || scanValue(value, 0) != len(value) {
			return 0, refError
		}
		p += i + 1
	}
}

// refExtensions checks *( BWS ";" BWS name [ BWS "=" BWS value ] ).
func refExtensions(e []byte) bool {
	bws := func(i int) int {
		for i < len(e) && (e[i] == ' ' || e[i] == '\t') {
			i++
		}
		return i
	}
	token := func(i int) int {
		for i < len(e) && class[e[i]]&cTchar != 0 {
			i++
		}
		return i
	}
	i := 0
	for i < len(e) {
		i = bws(i)
		if i == len(e) || e[i] != ';' {
			return false
		}
		i = bws(i + 1)
		j := token(i)
		if j == i {
			return false
		}
		i = j
		if k := bws(i); k < len(e) && e[k] == '=' {
			i = bws(k + 1)
			if i < len(e) && e[i] == '"' {
				i++
				for {
					if i == len(e) {
						return false
					}
					c := e[i]
					if c == '"' {
						i++
						break
					}
					if c == '\\' {
						i++
						if i == len(e) || (e[i] != '\t' && (e[i] < 0x20 || e[i] == 0x7f)) {
							return false
						}
					} else if c != '\t' && (c < 0x20 || c == 0x7f) {
						return false
					}
					i++
				}
			} else {
				j := token(i)
				if j == i {
					return false
				}
				i = j
			}
		}
	}
	return true
}

func FuzzChunkedScanner(f *testing.F) {
	for _, c := range loadCorpus(f) {
		if c.kind == "chunked" && len(c.data) <= maxSeedLen {
			f.Add(c.data)
		}
	}
	f.Add([]byte("1a;name=\"v\\\"\"\r\n" + strings.Repeat("z", 26) + "\r\n3\r\nabc\r\n0;x=y\r\nT: v\r\n\r\nNEXT"))
	f.Fuzz(func(t *testing.T, data []byte) {
		n, done, err := scanAll(data, 0)
		if n < 0 || n > len(data) || (done && err != nil) {
			t.Fatalf("n=%d done=%t err=%v", n, done, err)
		}
		if err != nil && statusOf(t, err) != 400 {
			t.Fatalf("status of %v", err)
		}

		// Same outcome one byte at a time and at split points derived
		// from the input.
		if n1, done1, err1 := scanAll(data, 1); n1 != n || done1 != done || err1 != err {
			t.Fatalf("whole: %d %t %v; byte by byte: %d %t %v", n, done, err, n1, done1, err1)
		}
		h := fnv.New64a()
		h.Write(data)
		rng := rand.New(rand.NewPCG(h.Sum64(), uint64(len(data))))
		var c ChunkedScanner
		total, sdone := 0, false
		var serr error
		for rest := data; len(rest) > 0; {
			k := 1 + rng.IntN(len(rest))
			if rng.IntN(2) == 0 {
				k = 1 + rng.IntN(min(len(rest), 8))
			}
			m, d, e := c.Scan(rest[:k])
			total += m
			if d || e != nil {
				sdone, serr = d, e
				break
			}
			if m != k {
				t.Fatalf("consumed %d of %d bytes without finishing", m, k)
			}
			rest = rest[k:]
		}
		if total != n || sdone != done || serr != err {
			t.Fatalf("whole: %d %t %v; random splits: %d %t %v", n, done, err, total, sdone, serr)
		}

		// Agreement with the line-by-line reading.
		rn, ref := refChunked(data)
		switch {
		case ref == refDone && (!done || n != rn):
			t.Fatalf("reference: done at %d; scanner: %d %t %v", rn, n, done, err)
		case ref == refError && err == nil:
			t.Fatalf("reference: error; scanner: %d %t", n, done)
		case ref == refMore && done:
			t.Fatalf("reference: incomplete; scanner: done at %d", n)
		case err != nil && ref == refDone:
			t.Fatalf("reference: done; scanner: %v", err)
		}
	})
}

// TestChunkedScanner_ScanData checks that the decoded content and the
// outcome do not depend on how the body is split, and that framing,
// extensions and trailers never reach the content.
func TestChunkedScanner_ScanData(t *testing.T) {
	body := "5;ext=1\r\nhello\r\n1\r\n \r\n6\r\nworld!\r\n0\r\nTrailer: x\r\n\r\nNEXT"
	for step := 1; step <= len(body); step++ {
		var c ChunkedScanner
		var got []byte
		consumed, finished := 0, false
		for i := 0; i < len(body) && !finished; i += step {
			end := min(i+step, len(body))
			n, done, out, err := c.ScanData([]byte(body[i:end]), got)
			if err != nil {
				t.Fatalf("step %d: %v", step, err)
			}
			got, consumed, finished = out, consumed+n, done
		}
		if !finished || string(got) != "hello world!" || body[consumed:] != "NEXT" {
			t.Fatalf("step %d: content %q, done %v, rest %q", step, got, finished, body[consumed:])
		}
	}
	var c ChunkedScanner
	if _, _, out, err := c.ScanData([]byte("3\r\nabcX"), nil); err == nil || string(out) != "abc" {
		t.Fatalf("bad CRLF after data: out %q, err %v", out, err)
	}
}

// TestChunkedScanner_ScanDataTrailers: the trailer section comes out as
// received, however the body is split, and ParseTrailers reads its fields.
func TestChunkedScanner_ScanDataTrailers(t *testing.T) {
	body := "5\r\nhello\r\n0\r\nX-Sum: 42\r\nx-empty:\r\nX-Tab:\tv w \r\n\r\nNEXT"
	for step := 1; step <= len(body); step++ {
		var c ChunkedScanner
		var got, tr []byte
		consumed, finished := 0, false
		for i := 0; i < len(body) && !finished; i += step {
			end := min(i+step, len(body))
			n, done, out, err := c.ScanDataTrailers([]byte(body[i:end]), got, &tr)
			if err != nil {
				t.Fatalf("step %d: %v", step, err)
			}
			got, consumed, finished = out, consumed+n, done
		}
		if !finished || string(got) != "hello" || body[consumed:] != "NEXT" {
			t.Fatalf("step %d: content %q, done %v, rest %q", step, got, finished, body[consumed:])
		}
		if want := "X-Sum: 42\r\nx-empty:\r\nX-Tab:\tv w \r\n\r\n"; string(tr) != want {
			t.Fatalf("step %d: trailer section %q, want %q", step, tr, want)
		}
		fs := ParseTrailers(tr, nil)
		if len(fs) != 3 || string(fs[0].Name) != "X-Sum" || string(fs[0].Value) != "42" ||
			string(fs[1].Name) != "x-empty" || len(fs[1].Value) != 0 ||
			string(fs[2].Name) != "X-Tab" || string(fs[2].Value) != "v w" {
			t.Fatalf("step %d: fields %q", step, fs)
		}
	}
	var c ChunkedScanner
	var tr []byte
	if _, done, _, err := c.ScanDataTrailers([]byte("0\r\n\r\n"), nil, &tr); !done || err != nil || len(ParseTrailers(tr, nil)) != 0 {
		t.Fatalf("no trailers: done %v, err %v, section %q", done, err, tr)
	}
}
