package stream

import (
	"github.com/strata-proxy/strata/core/backend"
	"github.com/strata-proxy/strata/core/listen"
)

// readProxyHeader reads and applies the PROXY protocol header that must
// open the connection. Bytes after the header stay in the buffer for the
// next layer (TLS or the stream).
func (cc *Conn) readProxyHeader() error {
	src, dst, ok, err := listen.ReadProxyHeader(cc.c, &cc.buf)
	if err != nil || !ok {
		return err
	}
	cc.conn.Src, cc.conn.Dst = src, dst
	cc.clientAddr = cc.conn.Src.String()
	return nil
}

// sendProxyHeader writes a PROXY header describing the client connection
// (its addresses after its own PROXY header) on a new server connection.
func (cc *Conn) sendProxyHeader(sc *backend.ServerConn, version int) error {
	_, err := sc.Write(listen.ProxyHeader(version, cc.conn.Src, cc.conn.Dst))
	return err
}
