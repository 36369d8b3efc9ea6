package handover

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/strata-proxy/strata/core/stick"
	"github.com/strata-proxy/strata/core/track"
)

// unixPair returns the two ends of a Unix stream connection, as the old
// and the new process hold them during an upgrade.
func unixPair(t *testing.T) (a, b *net.UnixConn) {
	t.Helper()
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(t.TempDir(), "s"), Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	a, err = net.DialUnix("unix", nil, ln.Addr().(*net.UnixAddr))
	if err != nil {
		t.Fatal(err)
	}
	b, err = ln.AcceptUnix()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// TestMessage_CarriesBodyAndDescriptors sends a body larger than a socket
// write usually takes at once with two descriptors attached: the body
// arrives whole, and the received descriptors reach the same open files.
func TestMessage_CarriesBodyAndDescriptors(t *testing.T) {
	a, b := unixPair(t)
	r1, w1, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r1.Close()
	defer w1.Close()
	r2, w2, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	defer w2.Close()

	type msg struct {
		Op   string
		Blob []byte
	}
	sent := msg{Op: "hello", Blob: make([]byte, 1<<20)}
	for i := range sent.Blob {
		sent.Blob[i] = byte(i)
	}
	errc := make(chan error, 1)
	go func() { errc <- WriteMessage(a, sent, w1, w2) }()
	var got msg
	files, err := ReadMessage(b, &got)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		defer f.Close()
	}
	if got.Op != sent.Op || string(got.Blob) != string(sent.Blob) {
		t.Fatalf("body: op %q, %d bytes; want %q, %d bytes equal", got.Op, len(got.Blob), sent.Op, len(sent.Blob))
	}
	if len(files) != 2 {
		t.Fatalf("%d files received, want 2", len(files))
	}
	for i, pr := range []*os.File{r1, r2} {
		want := []byte{'a' + byte(i)}
		if _, err := files[i].Write(want); err != nil {
			t.Fatal(err)
		}
		pr.SetReadDeadline(time.Now().Add(10 * time.Second))
		b := make([]byte, 1)
		if _, err := io.ReadFull(pr, b); err != nil || b[0] != want[0] {
			t.Fatalf("file %d: read %q, %v; want %q through the received descriptor", i, b, err, want)
		}
	}
}

func newEngine(t *testing.T) *track.Engine {
	t.Helper()
	st, err := stick.ParseStores("conn_cur,http_req_cnt,gpc(2)")
	if err != nil {
		t.Fatal(err)
	}
	ts, err := stick.NewStore().Build([]stick.Def{{Name: "per_ip", Key: stick.KeyIP, Size: 10, Expire: time.Minute, Store: st}})
	if err != nil {
		t.Fatal(err)
	}
	e, err := track.New(ts, []string{"per_ip"}, track.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestTables_RestoreThenDump restores a dump as the new process receives
// it: counters come over, conn_cur does not, a key that does not fit the
// table is reported and skipped without losing the others, and a table
// the new configuration lacks is ignored. Dumping the restored engine and
// sending it as a message gives the same entry back.
func TestTables_RestoreThenDump(t *testing.T) {
	e := newEngine(t)
	in := TableDump{
		"per_ip": {
			{Key: "192.0.2.1", Values: []stick.Value{
				{Name: "conn_cur", Type: stick.DataConnCur, Value: 5},
				{Name: "http_req_cnt", Type: stick.DataHTTPReqCnt, Value: 7},
				{Name: "gpc1", Type: stick.DataGPC, Index: 1, Value: 3},
			}},
			{Key: "not-an-address", Values: []stick.Value{{Name: "http_req_cnt", Type: stick.DataHTTPReqCnt, Value: 1}}},
		},
		"gone": {{Key: "192.0.2.9"}},
	}
	n, err := Restore(e, in)
	if n != 1 || err == nil {
		t.Fatalf("Restore = %d, %v; want 1 entry and the bad key reported", n, err)
	}

	a, b := unixPair(t)
	errc := make(chan error, 1)
	go func() { errc <- WriteMessage(a, Dump(e)) }()
	var out TableDump
	if _, err := ReadMessage(b, &out); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	list := out["per_ip"]
	if len(out) != 1 || len(list) != 1 || list[0].Key != "192.0.2.1" {
		t.Fatalf("dump after restore: %+v", out)
	}
	got := map[string]int64{}
	for _, v := range list[0].Values {
		got[v.Name] = v.Value
	}
	want := map[string]int64{"conn_cur": 0, "http_req_cnt": 7, "gpc0": 0, "gpc1": 3}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %d (present %v), want %d", k, g, ok, v)
		}
	}
	if n, err := Restore(nil, in); n != 0 || err != nil {
		t.Fatalf("Restore into no engine = %d, %v; want 0, nil", n, err)
	}
	if d := Dump(nil); d == nil || len(d) != 0 {
		t.Fatalf("Dump of no engine = %#v, want an empty dump", d)
	}
}
