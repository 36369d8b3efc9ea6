package h2

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

func TestStream_EndRules(t *testing.T) {
	post := []hpack.HeaderField{
		{Name: ":method", Value: "POST"}, {Name: ":scheme", Value: "http"},
		{Name: ":authority", Value: "a"}, {Name: ":path", Value: "/"},
	}
	tests := []struct {
		name      string
		endStream bool // the request HEADERS end the stream
		handler   func(s *Stream) error
		want      []string // frames on stream 1, in order
		wantErr   error
	}{
		{
			name: "handler returns without ending", endStream: true,
			handler: func(s *Stream) error { return nil },
			want:    []string{"RST_STREAM INTERNAL_ERROR"},
		},
		{
			name: "Close before WriteHeaders", endStream: true,
			handler: func(s *Stream) error { return s.Close() },
			want:    []string{"RST_STREAM INTERNAL_ERROR"}, wantErr: ErrNoHeaders,
		},
		{
			name: "body never sent: END_STREAM then RST_STREAM NO_ERROR", endStream: false,
			handler: func(s *Stream) error {
				s.WriteHeaders(413, nil, false)
				return s.Close()
			},
			want: []string{"HEADERS", "DATA END_STREAM", "RST_STREAM NO_ERROR"},
		},
		{
			name: "1xx then final with END_STREAM", endStream: true,
			handler: func(s *Stream) error {
				if err := s.WriteHeaders(103, hf("link", "</a>"), false); err != nil {
					return err
				}
				if err := s.WriteHeaders(204, nil, true); err != nil {
					return err
				}
				if err := s.WriteHeaders(200, nil, false); !errors.Is(err, ErrStreamClosed) {
					return fmt.Errorf("WriteHeaders after END_STREAM = %v", err)
				}
				return s.Close()
			},
			want: []string{"HEADERS", "HEADERS END_STREAM"},
		},
		{
			name: "1xx with END_STREAM refused", endStream: true,
			handler: func(s *Stream) error {
				if err := s.WriteHeaders(100, nil, true); !errors.Is(err, ErrBadStatus) {
					return fmt.Errorf("WriteHeaders(100, end) = %v", err)
				}
				s.WriteHeaders(200, hf("Connection", "close", "X-Mixed", "v"), false)
				if _, err := io.WriteString(s, "body"); err != nil {
					return err
				}
				return s.WriteTrailers(hf("x-t", "1"))
			},
			want: []string{"HEADERS", "DATA", "HEADERS END_STREAM"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			herr := make(chan error, 1)
			ts := startServer(t, Config{}, func(s *Stream) { herr <- tt.handler(s) }, false)
			rc := dialRaw(t, ts.addr)
			rc.headers(1, post, tt.endStream)
			var got []string
			dec := hpack.NewDecoder(4096, nil)
			for len(got) < len(tt.want) {
				f := rc.next(func(f http2.Frame) bool { return f.Header().StreamID == 1 })
				switch f := f.(type) {
				case *http2.RSTStreamFrame:
					got = append(got, "RST_STREAM "+f.ErrCode.String())
				case *http2.HeadersFrame:
					fields, err := dec.DecodeFull(f.HeaderBlockFragment())
					if err != nil {
						t.Fatal(err)
					}
					for _, fl := range fields {
						if fl.Name == "connection" || fl.Name == "X-Mixed" {
							t.Errorf("response field %q sent", fl.Name)
						}
					}
					got = append(got, "HEADERS"+endFlag(f.StreamEnded()))
				case *http2.DataFrame:
					got = append(got, "DATA"+endFlag(f.StreamEnded()))
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("frames %v, want %v", got, tt.want)
			}
			if err := <-herr; !errors.Is(err, tt.wantErr) {
				t.Fatalf("handler error %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func endFlag(end bool) string {
	if end {
		return " END_STREAM"
	}
	return ""
}

func TestRecvBuf(t *testing.T) {
	var b recvBuf
	var want []byte
	for i := range 5 * chunkSize / 1000 {
		p := make([]byte, 1000)
		for j := range p {
			p[j] = byte(i + j)
		}
		b.write(p)
		want = append(want, p...)
	}
	if b.len() != len(want) {
		t.Fatalf("len %d, want %d", b.len(), len(want))
	}
	var got []byte
	buf := make([]byte, 777)
	for b.len() > 0 {
		n := b.read(buf)
		got = append(got, buf[:n]...)
	}
	if string(got) != string(want) {
		t.Fatal("bytes read differ from bytes written")
	}
	if len(b.chunks) != 0 {
		t.Fatalf("%d chunks held after draining", len(b.chunks))
	}
	b.write([]byte("abc"))
	if n := b.release(); n != 3 || b.len() != 0 {
		t.Fatalf("release dropped %d, len %d", n, b.len())
	}
}
