package logsink

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// udpReceiver is a syslog server: a UDP socket on 127.0.0.1.
func udpReceiver(t testing.TB) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func receive(t *testing.T, c net.PacketConn) string {
	t.Helper()
	buf := make([]byte, 65536)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, _, err := c.ReadFrom(buf)
	if err != nil {
		t.Fatalf("no syslog message: %v", err)
	}
	return string(buf[:n])
}

func TestSink_SyslogUDP(t *testing.T) {
	pid := strconv.Itoa(os.Getpid())
	for _, tc := range []struct {
		name string
		sl   Syslog
		want string // a regexp of the whole datagram
	}{
		{
			name: "rfc5424 local0 info",
			sl:   Syslog{Format: "rfc5424", Facility: Facilities["local0"], Severity: Severities["info"], Tag: "web", Hostname: "h1"},
			want: `^<134>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|[+-]\d\d:\d\d) h1 web ` + pid + ` - - 127\.0\.0\.1:5 GET /a$`,
		},
		{
			name: "rfc3164 local7 notice",
			sl:   Syslog{Format: "rfc3164", Facility: Facilities["local7"], Severity: Severities["notice"], Tag: "strata"},
			want: `^<189>[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d strata\[` + pid + `\]: 127\.0\.0\.1:5 GET /a$`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := udpReceiver(t)
			s, err := New(Options{Output: "udp://" + rc.LocalAddr().String(), Syslog: tc.sl})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			s.Write([]byte("127.0.0.1:5 GET /a\n"))
			s.Flush()
			got := receive(t, rc)
			if !regexp.MustCompile(tc.want).MatchString(got) {
				t.Fatalf("got %q\nwant %s", got, tc.want)
			}
			if s.Written() != 1 || s.Dropped() != 0 {
				t.Fatalf("written %d dropped %d", s.Written(), s.Dropped())
			}
		})
	}
}

// TestSink_SyslogSocat sends through socat, a syslog relay of the kind
// operators run: what it receives over UDP it writes to a file.
func TestSink_SyslogSocat(t *testing.T) {
	bin, err := exec.LookPath("socat")
	if err != nil {
		t.Skip("socat is not installed (apt-get install socat)")
	}
	port := freeUDPPort(t)
	out := filepath.Join(t.TempDir(), "received")
	cmd := exec.Command(bin, "-u", fmt.Sprintf("UDP-RECV:%d,bind=127.0.0.1", port), "OPEN:"+out+",creat,append")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	s, err := New(Options{Output: fmt.Sprintf("udp://127.0.0.1:%d", port), Syslog: Syslog{Format: "rfc3164", Facility: 16, Severity: 6, Tag: "strata"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// socat binds when it is ready; until then a datagram is refused:
	// send one message per try until the file has it.
	for i := 0; ; i++ {
		s.Write([]byte(fmt.Sprintf("hello %d\n", i)))
		s.Flush()
		time.Sleep(20 * time.Millisecond)
		b, _ := os.ReadFile(out)
		if strings.Contains(string(b), "hello") {
			if !regexp.MustCompile(`<134>[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d strata\[\d+\]: hello \d+`).Match(b) {
				t.Fatalf("socat received %q", b)
			}
			return
		}
		if i == 250 {
			t.Fatalf("socat received nothing")
		}
	}
}

func freeUDPPort(t *testing.T) int {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// TestSink_SlowReceiver logs to a unix datagram socket that nobody reads:
// writes never block the caller, the queue stays bounded, and what cannot
// be written is counted as dropped.
func TestSink_SlowReceiver(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.sock")
	rc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	s, err := New(Options{Output: "unix://" + path, QueueBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	line := []byte(strings.Repeat("x", 200) + "\n")
	const n = 20000 // 4 MB: far more than the socket's buffer and the queue
	for range n {
		s.Write(line)
	}
	s.Close()
	if s.Dropped() == 0 {
		t.Fatalf("nothing dropped: written %d", s.Written())
	}
	if s.Written()+s.Dropped() != n {
		t.Fatalf("written %d + dropped %d != %d lines", s.Written(), s.Dropped(), n)
	}
	t.Logf("written %d, dropped %d", s.Written(), s.Dropped())
}

// TestSink_Reopen renames the file, reopens it: later lines go to a new
// file at the path, none is lost.
func TestSink_Reopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	s, err := New(Options{Output: path})
	if err != nil {
		t.Fatal(err)
	}
	s.Write([]byte("one\n"))
	s.Flush()
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	s.Write([]byte("two\n"))
	if err := s.Reopen(); err != nil {
		t.Fatal(err)
	}
	s.Write([]byte("three\n"))
	s.Close()
	old, _ := os.ReadFile(path + ".1")
	cur, _ := os.ReadFile(path)
	if string(old) != "one\ntwo\n" || string(cur) != "three\n" {
		t.Fatalf("rotated %q, new %q", old, cur)
	}
}

// TestSink_CloseBlockedPipe: a pipe that nobody reads does not keep Close
// (and so the process's stop) waiting forever.
func TestSink_CloseBlockedPipe(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	s, err := New(Options{Writer: w})
	if err != nil {
		t.Fatal(err)
	}
	line := []byte(strings.Repeat("y", 1000) + "\n")
	for range 1000 { // 1 MB: more than a pipe holds
		s.Write(line)
	}
	if err := s.Close(); err != ErrBlocked {
		t.Fatalf("Close = %v, want ErrBlocked", err)
	}
}

// BenchmarkSink_Write measures the cost a logged request pays: Write from
// every core at once into one sink (the lock of the queue, and for syslog
// the clock read and header of each line). The queue is large enough for
// every line, so that the queued path is measured, not the dropping one;
// dropped/op shows it stayed so.
func BenchmarkSink_Write(b *testing.B) {
	line := []byte(`127.0.0.1:40000 [07/Dec/2026:12:00:00.000] fe be/s1 0/0/0/1/1 200 512 - - ---- 1/1/0/0/0 0/0 "GET /index.html HTTP/1.1"` + "\n")
	for _, bc := range []struct {
		name string
		opts func(b *testing.B) Options
	}{
		{"stream", func(*testing.B) Options { return Options{Writer: discard{}} }},
		{"syslog", func(b *testing.B) Options {
			return Options{Output: "udp://" + udpReceiver(b).LocalAddr().String()}
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			o := bc.opts(b)
			o.QueueBytes = b.N * (len(line) + 4 + 128)
			s, err := New(o)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					s.Write(line)
				}
			})
			b.StopTimer()
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(s.Dropped())/float64(b.N), "dropped/op")
		})
	}
}

// discard is io.Discard without its ReaderFrom, as a plain destination.
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
