package proxywasm

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-proxy/strata/core/filter"
	"github.com/strata-proxy/strata/plugins"
)

// phases are the callbacks runStream makes, in its order.
var phases = []string{"request_headers", "request_body", "response_headers", "response_body"}

// A trap in any stream callback fails that stream (fail_closed: Fail;
// fail_open: Continue), discards the instance, and the next stream runs
// on a new one. A trap in proxy_on_log costs the instance, not the stream.
func TestFilter_TrapInEachCallback(t *testing.T) {
	for _, onErr := range []plugins.OnError{plugins.FailClosed, plugins.FailOpen} {
		want := filter.Fail
		if onErr == plugins.FailOpen {
			want = filter.Continue
		}
		for i, phase := range append(phases, "log") {
			t.Run(onErr.String()+"/"+phase, func(t *testing.T) {
				f := newFilter(t, "bad", Config{PluginConfig: []byte("trap:" + phase)}, func(c *plugins.Config) { c.OnError = onErr })
				s, sf := open(t, f, request("/"))
				st := runStream(sf, s, fields(":status", "200"))
				for j, got := range st {
					w := filter.Continue
					if j == i {
						w = want
					}
					if j > i && onErr == plugins.FailClosed {
						continue // the engine ends the stream at the failure
					}
					if got != w {
						t.Errorf("%s: %v, want %v", phases[j], got, w)
					}
				}
				if n := f.p.Stats().Traps; n != 1 {
					t.Errorf("traps %d, want 1", n)
				}
				// The next stream gets a fresh instance and passes.
				_, sf2 := open(t, f, request("/"))
				if st := sf2.RequestHeaders(true); phase != "request_headers" && st != filter.Continue {
					t.Errorf("next stream: %v", st)
				}
				sf2.Done()
			})
		}
	}
}

// A trap fails the streams on its instance only: a stream on another
// instance goes on.
func TestFilter_TrapFailsOnlyItsInstance(t *testing.T) {
	f := newFilter(t, "bad", Config{PluginConfig: []byte("trap:response_headers")}, func(c *plugins.Config) { c.InstancesMax = 2 })
	a, b := newStream(request("/a")), newStream(request("/b"))
	sfa, err := f.NewStream(a)
	if err != nil {
		t.Fatal(err)
	}
	sfb, err := f.NewStream(b) // a second instance: the first has a stream
	if err != nil {
		t.Fatal(err)
	}
	va, vb := sfa.(*stream).v, sfb.(*stream).v
	if va == vb {
		t.Fatal("two streams on one instance although a second could be made")
	}
	sfa.RequestHeaders(true)
	sfb.RequestHeaders(true)
	a.resp = fields(":status", "200")
	if st := sfa.ResponseHeaders(true); st != filter.Fail {
		t.Fatalf("trapping stream: %v, want Fail", st)
	}
	if !va.isDead() || vb.isDead() {
		t.Fatalf("dead: a %v, b %v; want only a's instance", va.isDead(), vb.isDead())
	}
	if st := sfb.RequestBody(&memBody{}, true); st != filter.Continue {
		t.Errorf("stream on the other instance: %v, want Continue", st)
	}
	sfa.Done()
	sfb.Done()
}

// A stream paused on an instance that dies meanwhile (a failure of another
// call: an HTTP call's answer, a tick, a queue event) is answered 500
// under fail_closed.
func TestFilter_PausedStreamOfDeadInstance(t *testing.T) {
	f := newFilter(t, "bad", Config{PluginConfig: []byte("never")}, nil)
	s, sf := open(t, f, request("/"))
	defer sf.Done()
	if st := sf.RequestHeaders(true); st != filter.Pause {
		t.Fatalf("%v, want Pause", st)
	}
	v := sf.(*stream).v
	v.mu.Lock()
	v.die(errors.New("injected"), sf.(*stream).src)
	v.unlock()
	if ev := s.wait(t); ev != "reply" || s.replied().Status != 500 {
		t.Fatalf("event %s reply %+v, want a 500", ev, s.replied())
	}
}

// A loop is stopped at call_timeout; the instance is discarded.
func TestFilter_Loop(t *testing.T) {
	f := newFilter(t, "bad", Config{PluginConfig: []byte("loop")}, func(c *plugins.Config) { c.CallTimeout = 50 * time.Millisecond })
	_, sf := open(t, f, request("/"))
	if st := sf.RequestHeaders(true); st != filter.Fail {
		t.Fatalf("%v, want Fail", st)
	}
	sf.Done()
	if n := f.p.Stats().Timeouts; n != 1 {
		t.Errorf("timeouts %d, want 1", n)
	}
}

// A filter that never continues leaves the stream paused: the engine's
// stream timeout ends it, and the instance serves the next stream.
func TestFilter_NeverContinues(t *testing.T) {
	f := newFilter(t, "bad", Config{PluginConfig: []byte("never")}, nil)
	for range 2 {
		_, sf := open(t, f, request("/"))
		if st := sf.RequestHeaders(true); st != filter.Pause {
			t.Fatalf("%v, want Pause", st)
		}
		sf.Log()
		sf.Done()
	}
	if n := f.p.Stats().Created; n != 2 { // the one Load checks, and one
		t.Errorf("%d instances created, want 2", n)
	}
}

// A pointer outside the guest's memory in each group of host functions
// is INVALID_MEMORY_ACCESS (6) to the guest, never a crash.
func TestFilter_BadPointers(t *testing.T) {
	f := newFilter(t, "bad", Config{PluginConfig: []byte("badptr")}, nil)
	req := request("/")
	_, sf := open(t, f, req)
	defer sf.Done()
	if st := sf.RequestHeaders(true); st != filter.Continue {
		t.Fatalf("%v, want Continue", st)
	}
	got := req.get("x-statuses")
	groups := strings.Split(got, ",")
	if len(groups) != 11 {
		t.Fatalf("x-statuses %q: want 11 groups", got)
	}
	for _, g := range groups {
		if !strings.HasSuffix(g, "=6") {
			t.Errorf("%s: want status 6 (INVALID_MEMORY_ACCESS)", g)
		}
	}
	if f.p.Stats().Traps != 0 {
		t.Error("an instance was lost to a bad pointer")
	}
}

// A trap while configuring fails the filter at load.
func TestNew_TrapInConfigure(t *testing.T) {
	p := loadPlugin(t, testHost(t, nil), "bad", nil)
	_, err := New(context.Background(), Config{Plugin: p, PluginConfig: []byte("trap:configure")})
	if !errors.Is(err, plugins.ErrTrap) {
		t.Fatalf("err %v, want ErrTrap", err)
	}
}

// A tick that traps costs its instance; the next stream gets another.
func TestFilter_TrapInTick(t *testing.T) {
	f := newFilter(t, "bad", Config{PluginConfig: []byte("trap:tick")}, nil)
	eventually(t, "the ticking instance traps", func() bool { return f.p.Stats().Traps >= 1 })
	_, sf := open(t, f, request("/"))
	if st := sf.RequestHeaders(true); st != filter.Continue {
		t.Errorf("%v, want Continue on a new instance", st)
	}
	sf.Done()
}

// A module that targets no ABI the host serves is refused with what it
// exports and imports.
func TestLoad_RefusesUnknownABI(t *testing.T) {
	if _, err := exec.LookPath("wat2wasm"); err != nil {
		t.Skip("wat2wasm (wabt) is not installed")
	}
	out := filepath.Join(t.TempDir(), "nomarker.wasm")
	if b, err := exec.Command("wat2wasm", "testdata/nomarker.wat", "-o", out).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm: %v\n%s", err, b)
	}
	_, err := testHost(t, nil).Load(context.Background(), plugins.Config{Name: "nomarker", File: out})
	if err == nil {
		t.Fatal("loaded")
	}
	for _, want := range []string{"no ABI marker", MarkerV020, MarkerV021, "strata_abi_v1", "found ABI-like exports proxy_abi_version_0_1_0"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

// Closing the plugin (a reload retiring the old generation) waits for the
// streams still on its instances: a paused stream keeps its instance until
// its Done, then the instance goes and Close returns.
func TestFilter_CloseDrainsStreams(t *testing.T) {
	f := newFilter(t, "bad", Config{PluginConfig: []byte("never")}, func(c *plugins.Config) { c.InstancesMax = 1 })
	_, sf := open(t, f, request("/"))
	if st := sf.RequestHeaders(true); st != filter.Pause {
		t.Fatalf("%v, want Pause", st)
	}
	closed := make(chan struct{})
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		f.p.Close(ctx)
		close(closed)
	}()
	// New streams are refused at once (fail_closed) while the old one
	// drains.
	eventually(t, "the filter refuses new streams", func() bool {
		sf, err := f.NewStream(newStream(request("/")))
		if err == nil { // before Close began
			sf.Done()
			return false
		}
		return errors.Is(err, plugins.ErrClosed)
	})
	select {
	case <-closed:
		t.Fatal("Close returned while a stream was still on its instance")
	default:
	}
	if n := f.p.Stats().Instances; n != 1 {
		t.Errorf("%d live instances during the drain, want the stream's one", n)
	}
	sf.Log()
	sf.Done()
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Fatal("Close did not return once the last stream was done")
	}
	if n := f.p.Stats().Instances; n != 0 {
		t.Errorf("%d live instances after Close", n)
	}
}
