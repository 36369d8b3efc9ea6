package proxy

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/strata-proxy/strata/core/stick"
	"github.com/strata-proxy/strata/core/track"
)

// Binary upgrade: what a running proxy hands over to the process that
// replaces it, and how that process takes it.
//
// The old process gives the new one a duplicate of every listening socket
// (over a Unix socket, SCM_RIGHTS: HandOver, TakeOver) and a dump of its
// stick tables (DumpTables). The new process passes the sockets to Inherit
// before Start, which then uses them instead of binding the addresses:
// both processes hold the same kernel sockets, so connections that arrive
// while the new process starts wait in the listen queue and none is
// refused. The new process restores the tables into its generation
// (RestoreTables) before it starts serving, then tells the old one to
// drain: the old one closes its copies of the sockets, which stay open
// through the new process's, and stops like on SIGTERM.
//
// Stick-table entries come over with every stored value as the runtime
// API shows it: counters, tags and server ids exactly; a rate as the
// events of its current period; conn_cur as 0 (the old process's trackers
// are released there). What the old process counts after its dump, while
// it drains, stays there.

// SetIdleLinger makes Shutdown keep idle keep-alive connections open for
// up to d instead of closing them at once: a request that arrives on one
// meanwhile is served, with "Connection: close", and the connection then
// closes. A client may send a request on an idle connection at the very
// moment the proxy closes it, and that request fails (HAProxy's
// idle-close-on-response addresses the same race); an upgrade, which
// hands new connections to another process, lingers so that busy
// keep-alive clients move over without such a failure. Idle connections
// still open after d are closed.
func (p *Proxy) SetIdleLinger(d time.Duration) { p.rl.linger.Store(int64(d)) }

func (p *Proxy) idleLinger() time.Duration { return time.Duration(p.rl.linger.Load()) }

// listen returns the socket for a configured address: one handed over by
// the process this one replaces, else a new one.
func (p *Proxy) listen(addr string) (*net.TCPListener, error) {
	p.rl.mu.Lock()
	ln := p.rl.inherited[addr]
	delete(p.rl.inherited, addr)
	p.rl.mu.Unlock()
	if ln != nil {
		return ln, nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return l.(*net.TCPListener), nil
}

// Inherit gives the proxy sockets handed over by the process it replaces,
// by configured address. Start uses those its configuration binds and
// closes the others.
func (p *Proxy) Inherit(lns map[string]*net.TCPListener) {
	p.rl.mu.Lock()
	defer p.rl.mu.Unlock()
	if p.rl.inherited == nil {
		p.rl.inherited = map[string]*net.TCPListener{}
	}
	for a, l := range lns {
		p.rl.inherited[a] = l
	}
}

// closeUnusedInherited closes handed-over sockets that the configuration
// no longer binds.
func (p *Proxy) closeUnusedInherited() {
	p.rl.mu.Lock()
	defer p.rl.mu.Unlock()
	for a, l := range p.rl.inherited {
		l.Close()
		delete(p.rl.inherited, a)
	}
}

// Listener is a listening socket to hand over: its configured address
// and a duplicate of its descriptor.
type Listener struct {
	Addr string
	File *os.File
}

// ListenerFiles returns a duplicate of every listening socket, for
// HandOver. The caller closes the files.
func (p *Proxy) ListenerFiles() ([]Listener, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Listener
	for _, l := range p.listeners {
		f, err := l.ln.File()
		if err != nil {
			for _, o := range out {
				o.File.Close()
			}
			return nil, err
		}
		out = append(out, Listener{Addr: l.addr, File: f})
	}
	return out, nil
}

// TableDump is the content of the stick tables, by table name.
type TableDump map[string][]DumpedEntry

// DumpedEntry is one entry: its key as the runtime API writes it and its
// stored values by name.
type DumpedEntry struct {
	Key    string        `json:"key"`
	Values []stick.Value `json:"values"`
	Expire time.Duration `json:"expire,omitempty"`
}

// DumpTables returns the content of the stick tables of the current
// generation.
func (p *Proxy) DumpTables() TableDump {
	out := TableDump{}
	e := p.gen.Load().StickEngine()
	if e == nil {
		return out
	}
	now := e.Now()
	for _, t := range e.Tables() {
		list := []DumpedEntry{}
		t.Dump(now, nil, func(v stick.EntryView) {
			list = append(list, DumpedEntry{Key: v.Key, Values: v.Values, Expire: v.Expire})
		})
		out[t.Name()] = list
	}
	return out
}

// RestoreTables fills g's tables from d, before g serves: tables of the
// same name get the entries, each value the table stores set as the
// runtime API would set it, but conn_cur and, in a table shared by a
// fleet, every counter and rate (the new process's first sync reads them
// from the fleet, which holds the old process's events). It returns the
// number of entries restored; entries whose key does not fit the table, or
// that do not fit in it, are skipped.
func RestoreTables(g *Generation, d TableDump) (int, error) {
	e := g.StickEngine()
	if e == nil {
		return 0, nil
	}
	now := e.Now()
	n := 0
	var errs []error
	for name, list := range d {
		t := e.Table(name)
		if t == nil {
			continue
		}
		for _, de := range list {
			k, err := track.ParseKey(t, de.Key)
			if err != nil {
				errs = append(errs, fmt.Errorf("table %s: %w", name, err))
				continue
			}
			ent, err := t.Acquire(k, now)
			if err != nil {
				errs = append(errs, fmt.Errorf("table %s: %w", name, err))
				continue
			}
			for _, v := range de.Values {
				// conn_cur counts the old process's connections, which
				// it keeps; a shared table's sums come from the fleet.
				if v.Type == stick.DataConnCur || t.FleetHolds(v.Type) {
					continue
				}
				ent.Set(v.Type, v.Index, v.Value, now)
			}
			t.Release(ent, now)
			n++
		}
	}
	return n, errors.Join(errs...)
}

// ---- the Unix-socket messages ----

// WriteMessage writes one message on c: a length-prefixed JSON body with
// files attached (SCM_RIGHTS).
func WriteMessage(c *net.UnixConn, v any, files ...*os.File) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	msg := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	msg = append(msg, body...)
	var oob []byte
	if len(files) > 0 {
		fds := make([]int, len(files))
		for i, f := range files {
			fds[i] = int(f.Fd())
		}
		oob = syscall.UnixRights(fds...)
	}
	// The files travel with the first bytes; the rest follows as a
	// stream.
	n, _, err := c.WriteMsgUnix(msg, oob, nil)
	if err != nil {
		return err
	}
	if n < len(msg) {
		_, err = c.Write(msg[n:])
	}
	return err
}

// ReadMessage reads one message written by WriteMessage into v and
// returns the files attached.
func ReadMessage(c *net.UnixConn, v any) ([]*os.File, error) {
	head := make([]byte, 4)
	oob := make([]byte, syscall.CmsgSpace(64*4))
	n, oobn, _, _, err := c.ReadMsgUnix(head, oob)
	if err != nil {
		return nil, err
	}
	var files []*os.File
	if oobn > 0 {
		msgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			return nil, err
		}
		for _, m := range msgs {
			fds, err := syscall.ParseUnixRights(&m)
			if err != nil {
				return nil, err
			}
			for _, fd := range fds {
				files = append(files, os.NewFile(uintptr(fd), "handed-over"))
			}
		}
	}
	if _, err := io.ReadFull(c, head[n:]); err != nil {
		return files, err
	}
	body := make([]byte, binary.BigEndian.Uint32(head))
	if _, err := io.ReadFull(c, body); err != nil {
		return files, err
	}
	return files, json.Unmarshal(body, v)
}
