package proxy

import (
	"net"
	"time"

	"github.com/strata-proxy/strata/core/handover"
)

// Binary upgrade: what a running proxy hands over to the process that
// replaces it, and how that process takes it. The messages and the table
// dump are core/handover's; what stays here touches the Proxy's state.
//
// The old process gives the new one a duplicate of every listening socket
// (ListenerFiles) and a dump of its stick tables (DumpTables). The new
// process passes the sockets to Inherit before Start, which then uses them
// instead of binding the addresses: both processes hold the same kernel
// sockets, so connections that arrive while the new process starts wait
// in the listen queue and none is refused. The new process restores the
// tables into its generation (handover.Restore) before it starts serving,
// then tells the old one to drain: the old one closes its copies of the
// sockets, which stay open through the new process's, and stops like on
// SIGTERM.

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
func (p *Proxy) listen(addr string) (*net.TCPListener, error) { return p.rl.inherited.Listen(addr) }

// Inherit gives the proxy sockets handed over by the process it replaces,
// by configured address. Start uses those its configuration binds and
// closes the others.
func (p *Proxy) Inherit(lns map[string]*net.TCPListener) { p.rl.inherited.Add(lns) }

// closeUnusedInherited closes handed-over sockets that the configuration
// no longer binds.
func (p *Proxy) closeUnusedInherited() { p.rl.inherited.CloseUnused() }

// ListenerFiles returns a duplicate of every listening socket, for
// HandOver. The caller closes the files.
func (p *Proxy) ListenerFiles() ([]handover.Listener, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []handover.Listener
	for _, l := range p.listeners {
		f, err := l.ln.File()
		if err != nil {
			for _, o := range out {
				o.File.Close()
			}
			return nil, err
		}
		out = append(out, handover.Listener{Addr: l.addr, File: f})
	}
	return out, nil
}

// DumpTables returns the content of the stick tables of the current
// generation, for the process that replaces this one.
func (p *Proxy) DumpTables() handover.TableDump {
	return handover.Dump(p.Gen.Load().StickEngine())
}
