package stream

import (
	"errors"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/strata-proxy/strata/core/fetch"
	"github.com/strata-proxy/strata/core/filter"
	"github.com/strata-proxy/strata/core/generation"
	"github.com/strata-proxy/strata/core/h1"
	"github.com/strata-proxy/strata/core/session"
)

// filterEntry is one filter of a stream's chain once it has started.
type filterEntry struct {
	f  filter.Filter
	sf filter.StreamFilter
	// buf holds the body the filter paused on (its own copy), until it
	// lets it through.
	buf []byte
}

// filterRun is a stream's filter state, embedded in the exchange so that
// a filtered stream allocates only what its filters do.
type filterRun struct {
	// Owned by the stream's goroutine:
	x       *exchange
	cc      *Conn
	fe, be  []filter.Filter // the chains the stream runs (be once routed)
	started []filterEntry   // frontend filters first, in chain order
	req     fieldsView
	resp    fieldsView
	reqTr   trailerView // the request's trailer section, once its body ended
	respTr  trailerView // the response's
	body    bodyView    // the body of the callback in progress (runBody)
	hasResp bool        // the response head exists (ResponseHeaders is not nil)
	// headSent: the response head went to the client, no more replies.
	// Written under mu (Reply reads it from the filters' goroutines).
	headSent bool
	// Request body (readBody): what the chain let through and the client
	// has not been sent yet, and whether the chain saw the body's end.
	pending  []byte
	reqEnded bool
	scratch  []byte
	// Response body (sendHead, sendBody): the head held back while the
	// chain has not let body bytes through.
	held       h1.Response
	heldFields []h1.Field
	holding    bool
	// filtersBody: the request body goes through the chain (readBody);
	// reqSent: the request head has been framed for the server, filters
	// can no longer change it.
	filtersBody bool
	reqSent     bool

	// Shared with the filters' goroutines (Resume, Reply, Close):
	mu      sync.Mutex
	wake    chan struct{} // capacity 1: a signal is never lost
	resumed bool
	reply   *filter.Reply
	closed  bool
}

// filterAction is what the engine does after a callback.
type filterAction uint8

const (
	actContinue   filterAction = iota
	actReply                   // a filter asked for a local reply (fr.reply)
	actClose                   // a filter closed the stream
	actFail                    // a filter failed: cause plugin
	actTimeout                 // a pause outlived the phase's timeout
	actTooLarge                // a paused body grew past the filter's limit
	actClientGone              // the client reset the stream while it waited
)

// startFilters prepares x.flt for a stream of frontend fe, when it has a
// chain. It costs nothing to a stream without filters.
func (x *exchange) startFilters(cc *Conn, fe *generation.Frontend) {
	if len(fe.Filters) == 0 {
		return
	}
	x.useFilters(cc)
	x.flt.fe = fe.Filters
}

// useFilters makes x.flt the exchange's filter state.
func (x *exchange) useFilters(cc *Conn) {
	if x.flt != nil {
		return
	}
	fr := &x.fltState
	fr.x, fr.cc = x, cc
	fr.req = fieldsView{fr: fr}
	fr.resp = fieldsView{fr: fr, resp: true}
	fr.reqTr.reset()
	fr.respTr.reset()
	if fr.wake == nil {
		fr.wake = make(chan struct{}, 1)
	}
	x.flt = fr
}

// endFilters calls Log then Done on every filter the stream started, and
// clears the state for the exchange's next stream.
func (x *exchange) endFilters() {
	fr := x.flt
	if fr == nil {
		return
	}
	for _, e := range fr.started {
		e.sf.Log()
	}
	for _, e := range fr.started {
		e.sf.Done()
	}
	clear(fr.started)
	fr.started = fr.started[:0]
	fr.fe, fr.be = nil, nil
	fr.hasResp, fr.holding, fr.reqEnded = false, false, false
	fr.filtersBody, fr.reqSent = false, false
	fr.pending = nil
	fr.held = h1.Response{}
	fr.reqTr.reset()
	fr.respTr.reset()
	fr.mu.Lock()
	fr.resumed, fr.reply, fr.closed, fr.headSent = false, nil, false, false
	fr.mu.Unlock()
	select {
	case <-fr.wake:
	default:
	}
	x.flt = nil
}

// entries starts the filters of chain that have not started yet and
// returns the started entries of chain, in chain order.
func (fr *filterRun) entries(chain []filter.Filter, from int) ([]filterEntry, filterAction) {
	for _, f := range chain {
		sf, err := f.NewStream(fr)
		if err != nil {
			return nil, actFail
		}
		fr.started = append(fr.started, filterEntry{f: f, sf: sf})
	}
	return fr.started[from:], actContinue
}

// requestHeaders runs chain's RequestHeaders and answers the client when a
// filter decided so.
func (cc *Conn) requestHeaders(x *exchange, chain []filter.Filter) (stepResult, bool) {
	fr := x.flt
	if len(chain) == 0 || fr == nil {
		return keepOpen, false
	}
	es, act := fr.entries(chain, len(fr.started))
	end := x.txn.Req.Body == h1.BodyNone
	for i := 0; i < len(es) && act == actContinue; i++ {
		act = fr.settle(es[i].sf.RequestHeaders(end), false)
	}
	return cc.filterEnd(x, act, false)
}

// responseHeaders runs the response chain of one proxy section (started
// entries from, to), in reverse.
func (cc *Conn) responseHeaders(x *exchange, es []filterEntry) (stepResult, bool) {
	fr := x.flt
	fr.hasResp = true
	fr.reqSent = true // the request has left: its head cannot change
	end := x.txn.Resp.Body == h1.BodyNone
	act := actContinue
	for i := len(es) - 1; i >= 0 && act == actContinue; i-- {
		act = fr.settle(es[i].sf.ResponseHeaders(end), true)
	}
	return cc.filterEnd(x, act, true)
}

// sections splits the started filters into the frontend's and the
// backend's.
func (fr *filterRun) sections() (fe, be []filterEntry) {
	n := min(len(fr.fe), len(fr.started))
	return fr.started[:n], fr.started[n:]
}

// settle turns a callback's status into what the engine does, waiting
// through a pause.
func (fr *filterRun) settle(st filter.Status, response bool) filterAction {
	if a := fr.pending_(); a != actContinue {
		return a
	}
	switch st {
	case filter.Fail:
		return actFail
	case filter.Pause:
		return fr.wait(response)
	}
	return actContinue
}

// pending_ reports a reply or close a filter asked for, and forgets a
// resume that came while nothing was paused only when asked to (wait).
func (fr *filterRun) pending_() filterAction {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	switch {
	case fr.reply != nil:
		return actReply
	case fr.closed:
		return actClose
	}
	return actContinue
}

// takeResume consumes a Resume, if one came.
func (fr *filterRun) takeResume() bool {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	r := fr.resumed
	fr.resumed = false
	return r
}

// wait holds the paused stream until Resume, Reply or Close, the end of
// the phase's timeout, or the end of the grace period.
func (fr *filterRun) wait(response bool) filterAction {
	d := fr.cc.fe.Timeouts.HTTPRequest
	if response {
		if be := fr.cc.gen.Backend(fr.x.strm.Backend); be != nil {
			d = be.Timeouts.Server
		}
	}
	var timeout <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	for {
		if fr.takeResume() {
			return actContinue
		}
		if a := fr.pending_(); a != actContinue {
			return a
		}
		select {
		case <-fr.wake:
		case <-timeout:
			return actTimeout
		case <-fr.x.fr.clientDone(fr.x):
			return actClientGone
		case <-fr.cc.p.Kill:
			return actClose
		}
	}
}

// markHeadSent records that the response head goes to the client: from
// now on Reply, which a filter may call from any goroutine, fails.
func (fr *filterRun) markHeadSent() {
	fr.mu.Lock()
	fr.headSent = true
	fr.mu.Unlock()
}

// signal wakes the stream if it waits.
func (fr *filterRun) signal() {
	select {
	case fr.wake <- struct{}{}:
	default:
	}
}

// filterEnd ends the stream as act says, and reports false for
// actContinue.
func (cc *Conn) filterEnd(x *exchange, act filterAction, response bool) (stepResult, bool) {
	phase := session.PhaseRequest
	if response {
		phase = session.PhaseHeaders
	}
	fr := x.flt
	switch act {
	case actContinue:
		return keepOpen, false
	case actReply:
		fr.mu.Lock()
		r := fr.reply
		fr.mu.Unlock()
		x.strm.Term.Set(session.CauseLocal, phase)
		return cc.replyFilter(x, r), true
	case actClose:
		x.strm.Term.Set(session.CauseDenied, phase)
		if cc.p.killed() {
			x.strm.Term.Set(session.CauseKilled, phase)
		}
		return closeConn, true // an HTTP/2 stream is reset (its response did not end)
	case actClientGone:
		x.endIfClientGone()
		return closeConn, true
	case actTimeout:
		x.strm.Term.Set(session.CausePlugin, phase)
		return cc.replyIfHeadNotSent(x, 504), true
	case actTooLarge:
		if response {
			x.strm.Term.Set(session.CauseBadResponse, phase)
			return cc.replyIfHeadNotSent(x, 502), true
		}
		x.strm.Term.Set(session.CauseBadRequest, phase)
		return cc.replyIfHeadNotSent(x, 413), true
	}
	x.strm.Term.Set(session.CausePlugin, phase)
	return cc.replyIfHeadNotSent(x, 500), true
}

// replyIfHeadNotSent answers with an error page while the response head
// has not gone; after it, the stream can only be cut (an HTTP/1.1
// connection closed, an HTTP/2 stream reset).
func (cc *Conn) replyIfHeadNotSent(x *exchange, status int) stepResult {
	if x.flt.headSent {
		return closeConn
	}
	return cc.replyError(x, status)
}

// replyFilter sends a filter's local reply.
func (cc *Conn) replyFilter(x *exchange, r *filter.Reply) stepResult {
	if x.flt.headSent {
		return closeConn
	}
	fs := make([]h1.Field, 0, len(r.Fields))
	var ctype []byte
	for _, f := range r.Fields {
		switch {
		case len(f[0]) > 0 && f[0][0] == ':', h1.HopByHop(f[0]), strings.EqualFold(f[0], "content-length"):
			continue // the front frames the reply itself
		case strings.EqualFold(f[0], "content-type"):
			ctype = []byte(f[1])
			continue
		}
		fs = append(fs, h1.Field{Name: []byte(f[0]), Value: []byte(f[1])})
	}
	lr := localReply{status: r.Status, ctype: ctype, fields: fs, body: r.Body}
	lr.keep = x.fr.keepAfterReply(cc, x)
	x.txn.Status = r.Status
	return x.fr.reply(cc, x, &lr)
}

func (fr *filterRun) RequestHeaders() filter.Fields { return &fr.req }

func (fr *filterRun) ResponseHeaders() filter.Fields {
	if !fr.hasResp {
		return nil
	}
	return &fr.resp
}

func (fr *filterRun) RequestTrailers() filter.Fields { return &fr.reqTr }

func (fr *filterRun) ResponseTrailers() filter.Fields { return &fr.respTr }

func (fr *filterRun) Reply(r filter.Reply) error {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	if fr.headSent {
		return errHeadSent
	}
	if r.Status < 200 || r.Status > 999 {
		return errors.New("reply status must be from 200 to 999")
	}
	r.Body = append([]byte(nil), r.Body...) // the caller's buffer may be reused
	r.Fields = append([][2]string(nil), r.Fields...)
	fr.reply = &r
	fr.signal()
	return nil
}

func (fr *filterRun) Resume() {
	fr.mu.Lock()
	fr.resumed = true
	fr.mu.Unlock()
	fr.signal()
}

func (fr *filterRun) Close() {
	fr.mu.Lock()
	fr.closed = true
	fr.mu.Unlock()
	fr.signal()
}

func (fr *filterRun) Sample() *fetch.Ctx { return &fr.x.fctx }

func (fr *filterRun) Protocol() string {
	switch major, minor := fr.x.fr.version(&fr.x.txn.Req); {
	case major == 2:
		return "HTTP/2"
	case minor == 0:
		return "HTTP/1.0"
	}
	return "HTTP/1.1"
}

var (
	errHeadSent = errors.New("the response head has gone to the client")
	errBadField = errors.New("invalid field name or value")
)

func (fr *filterRun) headOf(resp bool) (fs []h1.Field) { return fr.x.headFields(resp) }

func (x *exchange) headFields(resp bool) (fs []h1.Field) {
	if resp {
		if x.flt.holding {
			return x.flt.held.Fields
		}
		return x.txn.Resp.Fields
	}
	return x.txn.Req.Fields
}

// fieldsView shows a request or response head to filters: the
// pseudo-header fields first, then the fields (a request's Host is its
// :authority).
type fieldsView struct {
	fr   *filterRun
	resp bool
	num  [3]byte // scratch for :status
}

func (v *fieldsView) pseudo() int {
	if v.resp {
		return 1
	}
	return 4
}

// fields returns the head's fields without the request's Host.
func (v *fieldsView) fields() []h1.Field { return v.fr.headOf(v.resp) }

func (v *fieldsView) Len() int {
	n := v.pseudo()
	for _, f := range v.fields() {
		if !v.resp && session.EqualFold(f.Name, []byte("host")) {
			continue
		}
		n++
	}
	return n
}

func (v *fieldsView) At(i int) (name, value []byte) {
	if i < v.pseudo() {
		return v.pseudoAt(i)
	}
	i -= v.pseudo()
	for _, f := range v.fields() {
		if !v.resp && session.EqualFold(f.Name, []byte("host")) {
			continue
		}
		if i == 0 {
			return f.Name, f.Value
		}
		i--
	}
	return nil, nil
}

var pseudoNames = [...]string{":method", ":scheme", ":authority", ":path"}

func (v *fieldsView) pseudoAt(i int) (name, value []byte) {
	x := v.fr.x
	if v.resp {
		s := x.txn.Resp.Status
		if v.fr.holding {
			s = v.fr.held.Status
		}
		return []byte(":status"), strconv.AppendInt(v.num[:0], int64(s), 10)
	}
	req := &x.txn.Req
	switch i {
	case 0:
		return []byte(pseudoNames[0]), req.Method
	case 1:
		if v.fr.cc.conn.TLS != nil {
			return []byte(pseudoNames[1]), []byte("https")
		}
		return []byte(pseudoNames[1]), []byte("http")
	case 2:
		h, _ := h1.Lookup(req.Fields, "host", 1)
		return []byte(pseudoNames[2]), h
	}
	return []byte(pseudoNames[3]), req.URI
}

func (v *fieldsView) Get(name []byte) ([]byte, bool) {
	if len(name) > 0 && name[0] == ':' {
		for i := range v.pseudo() {
			if n, val := v.pseudoAt(i); session.EqualFold(n, name) {
				return val, true
			}
		}
		return nil, false
	}
	return h1.Lookup(v.fields(), string(name), 1)
}

func (v *fieldsView) Set(name, value []byte) error { return v.put(name, value, false) }

func (v *fieldsView) Add(name, value []byte) error { return v.put(name, value, true) }

// put sets a field of the view's head (replacing those of the name), or
// adds one when add is set; a pseudo-header is set either way. A response
// head a filter holds back is edited where it is held.
func (v *fieldsView) put(name, value []byte, add bool) error {
	if !v.writable() {
		return errHeadSent
	}
	if len(name) > 0 && name[0] == ':' {
		return v.setPseudo(name, value)
	}
	if !h1.ValidFieldName(name) || !h1.ValidFieldValue(value) {
		return errBadField
	}
	txn := &v.fr.x.txn
	ok := true
	switch {
	case v.resp && v.fr.holding && add:
		v.fr.held.Fields = append(v.fr.held.Fields, h1.Field{Name: txn.Keep(name), Value: txn.Keep(value)})
	case v.resp && v.fr.holding:
		v.fr.held.Fields = setField(txn, v.fr.held.Fields, name, value)
	case v.resp && add:
		ok = txn.AddRespHeader(name, value)
	case v.resp:
		ok = txn.SetRespHeader(name, value)
	case add:
		ok = txn.AddReqHeader(name, value)
	default:
		ok = txn.SetReqHeader(name, value)
	}
	if !ok {
		return errBadField
	}
	if !v.resp && session.EqualFold(name, []byte("host")) {
		// The transaction's Host is what routing and the log read.
		txn.Req.Host, _ = h1.Lookup(txn.Req.Fields, "host", 1)
	}
	return nil
}

func (v *fieldsView) Del(name []byte) error {
	if !v.writable() {
		return errHeadSent
	}
	if len(name) > 0 && name[0] == ':' {
		return errors.New("a pseudo-header field cannot be removed")
	}
	txn := &v.fr.x.txn
	switch {
	case v.resp && v.fr.holding:
		v.fr.held.Fields = session.DelFields(v.fr.held.Fields, name)
	case v.resp:
		txn.DelRespHeader(name)
	default:
		txn.DelReqHeader(name)
	}
	return nil
}

// writable reports whether the head can still change: a request head
// until it leaves for the server, a response head until the client has
// it.
func (v *fieldsView) writable() bool {
	if v.resp {
		return !v.fr.headSent
	}
	return !v.fr.reqSent
}

// setPseudo writes :method, :path, :authority or :status.
func (v *fieldsView) setPseudo(name, value []byte) error {
	txn := &v.fr.x.txn
	switch string(name) {
	case ":status":
		if !v.resp {
			break
		}
		n, err := strconv.Atoi(string(value))
		if err != nil || n < 100 || n > 999 {
			return errBadField
		}
		if v.fr.holding {
			v.fr.held.Status, v.fr.held.Reason = n, nil
			return nil
		}
		txn.SetStatus(n, nil)
		txn.Resp.Reason = nil
		return nil
	case ":method":
		if v.resp || !h1.ValidFieldName(value) {
			break
		}
		if !txn.SetMethod(value) {
			return errBadField
		}
		return nil
	case ":path":
		if v.resp || len(value) == 0 || value[0] != '/' || !h1.ValidTarget(string(value)) {
			break
		}
		path := value
		if i := indexByte(value, '?'); i >= 0 {
			path = value[:i]
		}
		var query []byte
		if i := indexByte(value, '?'); i >= 0 {
			query = value[i+1:]
		}
		if !txn.SetPath(path) || !txn.SetQuery(query) {
			return errBadField
		}
		return nil
	case ":authority":
		if v.resp || !h1.ValidFieldValue(value) || len(value) == 0 {
			break
		}
		if !txn.SetReqHeader([]byte("host"), value) {
			return errBadField
		}
		txn.Req.Host, _ = h1.Lookup(txn.Req.Fields, "host", 1)
		return nil
	}
	return errBadField
}

func indexByte(b []byte, c byte) int {
	for i, d := range b {
		if d == c {
			return i
		}
	}
	return -1
}

// setField replaces every field called name in fs by one with value, its
// bytes kept in the transaction.
func setField(txn *session.Txn, fs []h1.Field, name, value []byte) []h1.Field {
	fs = session.DelFields(fs, name)
	return append(fs, h1.Field{Name: txn.Keep(name), Value: txn.Keep(value)})
}

// bodyView is the body a body callback sees.
type bodyView struct{ data []byte }

func (v *bodyView) Bytes() []byte { return v.data }

func (v *bodyView) Replace(off, n int, data []byte) error {
	b := v.data
	if off < 0 || n < 0 || off > len(b) {
		return errors.New("offset out of the body")
	}
	n = min(n, len(b)-off)
	if len(data) == n {
		copy(b[off:], data)
		return nil
	}
	nb := make([]byte, 0, len(b)-n+len(data))
	nb = append(nb, b[:off]...)
	nb = append(nb, data...)
	v.data = append(nb, b[off+n:]...)
	return nil
}

// runBody passes a body chunk through es — in order for the request, in
// reverse for the response — and returns what comes out of the last
// filter: nil while a filter pauses on it (the data then waits in that
// filter's buffer, and comes out with a later chunk). At the body's end a
// pause waits for Resume.
func (fr *filterRun) runBody(es []filterEntry, data []byte, end, response bool) ([]byte, filterAction) {
	for k := range es {
		e := &es[k]
		if response {
			e = &es[len(es)-1-k]
		}
		if len(e.buf) > 0 {
			e.buf = append(e.buf, data...)
			data = e.buf
		}
		// The view lives in fr, so that handing it to the filter
		// allocates nothing; data follows what the filter replaced.
		fr.body.data = data
		var st filter.Status
		if response {
			st = e.sf.ResponseBody(&fr.body, end)
		} else {
			st = e.sf.RequestBody(&fr.body, end)
		}
		data, fr.body.data = fr.body.data, nil
		if a := fr.pending_(); a != actContinue {
			return nil, a
		}
		switch st {
		case filter.Fail:
			return nil, actFail
		case filter.Pause:
			if fr.takeResume() {
				break // resumed during the callback: the data goes on
			}
			if !end {
				if len(data) > e.f.MaxBody() {
					return nil, actTooLarge
				}
				if len(e.buf) == 0 {
					e.buf = append(e.buf, data...) // the filter's own copy
				} else {
					e.buf = data // grown above, possibly replaced by the filter
				}
				return nil, actContinue
			}
			if a := fr.wait(response); a != actContinue {
				return nil, a
			}
		}
		// The data goes on; the buffer is reused once it has been sent.
		e.buf = e.buf[:0]
	}
	return data, actContinue
}

// filterStop is the error a body read or write returns when a filter
// ended the stream; the stream's end is already decided (fr.stopped).
type filterStop struct{ act filterAction }

func (*filterStop) Error() string { return "stopped by a filter" }

// filtersBody reports whether the request body goes through filters.
func (x *exchange) filtersBody() bool { return x.flt != nil && x.flt.filtersBody }

// streamed reports whether the request body is read as content from the
// client's front (a front without HTTP/1.1 framing, filtered bodies),
// rather than forwarded as the HTTP/1.1 bytes the client sent.
func (x *exchange) streamed() bool { return !x.fr.passChunks() || x.filtersBody() }

// readBody reads request body content: from the chain when filters see
// the body, else from the client's front.
func (x *exchange) readBody(cc *Conn, p []byte) (int, error) {
	fr := x.flt
	if fr == nil || !fr.filtersBody {
		return x.fr.readBody(cc, x, p)
	}
	for {
		if len(fr.pending) > 0 {
			n := copy(p, fr.pending)
			fr.pending = fr.pending[n:]
			return n, nil
		}
		if fr.reqEnded {
			return 0, io.EOF
		}
		if err := fr.pull(); err != nil {
			return 0, err
		}
	}
}

// pull reads one chunk from the client through the chain into pending.
func (fr *filterRun) pull() error {
	x, cc := fr.x, fr.cc
	if fr.scratch == nil {
		fr.scratch = make([]byte, 16<<10)
	}
	n, err := x.fr.readBody(cc, x, fr.scratch)
	end := err == io.EOF
	if err != nil && !end {
		return err
	}
	out, act := fr.runBody(fr.started, fr.scratch[:n], end, false)
	if act == actContinue && end {
		act = fr.requestTrailers()
	}
	if act != actContinue {
		return &filterStop{act}
	}
	fr.pending, fr.reqEnded = out, end
	return nil
}

// primeRequestBody starts a filtered request body before anything goes to
// the server: the head is detached from the client buffer, and the chain
// is run until it lets bytes through or the body ends, so that the head
// can say the body's exact length when the chain gave all of it, and a
// filter can still answer the client.
func (cc *Conn) primeRequestBody(x *exchange) (stepResult, bool) {
	fr := x.flt
	req := &x.txn.Req
	if fr == nil || len(fr.started) == 0 || req.Body == h1.BodyNone {
		return keepOpen, false
	}
	if err := x.fr.takeHead(cc, x); err != nil {
		return closeConn, true
	}
	fr.filtersBody = true
	for !fr.reqEnded && len(fr.pending) == 0 {
		if err := fr.pull(); err != nil {
			if res, ok := cc.filterBodyFailed(x, err); ok {
				return res, true
			}
			switch {
			case isTimeout(err):
				x.strm.Term.Set(session.CauseClientTimeout, session.PhaseRequest)
				return cc.replyError(x, 408), true
			}
			x.strm.Term.Set(clientCause(err), session.PhaseData)
			return closeConn, true
		}
	}
	x.txn.DelReqHeader([]byte("content-length"))
	x.txn.DelReqHeader([]byte("transfer-encoding"))
	if fr.reqEnded && len(fr.reqTr.fields) == 0 {
		req.Body, req.ContentLength = h1.BodyLength, int64(len(fr.pending))
		x.name = strconv.AppendInt(x.name[:0], req.ContentLength, 10)
		x.txn.AddReqHeader(contentLength, x.name)
	} else {
		// HTTP/1.1 servers get it chunked (trailers need it); HTTP/2
		// ones unframed.
		req.Body = h1.BodyChunked
	}
	x.txn.ReqEdited = true
	fr.reqSent = true
	return keepOpen, false
}

// detachRequestHead copies an HTTP/1.1 request head out of the client
// buffer, which its body then flows through, and says 100 Continue to a
// client that waits for it.
func (cc *Conn) detachRequestHead(x *exchange) error {
	txn := &x.txn
	req := &txn.Req
	uri := txn.Keep(req.URI)
	pathLen, qOff := len(req.Path), -1
	if req.Query != nil {
		qOff = len(uri) - len(req.Query)
	}
	req.Method = txn.Keep(req.Method)
	req.URI, req.Path = uri, uri[:pathLen:pathLen]
	if qOff >= 0 {
		req.Query = uri[qOff:]
	}
	for i := range req.Fields {
		f := &req.Fields[i]
		f.Name, f.Value = txn.Keep(f.Name), txn.Keep(f.Value)
	}
	req.Host, _ = h1.Lookup(req.Fields, "host", 1)
	cc.buf.Consume(req.HeadLen)
	req.HeadLen = 0
	x.consumed = true
	x.chunk.Reset()
	if req.ExpectContinue {
		req.ExpectContinue = false
		txn.DelReqHeader([]byte("expect"))
		if _, err := cc.c.Write([]byte("HTTP/1.1 100 Continue\r\n\r\n")); err != nil {
			x.strm.Term.Set(clientCause(err), session.PhaseRequest)
			return err
		}
	}
	return nil
}

// filterBodyFailed ends a stream whose request body a filter stopped, or
// whose HTTP/1.1 chunked framing was malformed, as a read of the body
// going to the server reports it; ok is false for other failures.
func (cc *Conn) filterBodyFailed(x *exchange, err error) (res stepResult, ok bool) {
	var fs *filterStop
	switch {
	case errors.As(err, &fs):
		return cc.filterEnd(x, fs.act, false)
	case errors.Is(err, errBadChunk):
		x.strm.Term.Set(session.CauseBadRequest, session.PhaseData)
		return cc.replyError(x, 400), true
	}
	return keepOpen, false
}

// contentLength is the field name the engine writes when it fixes a
// filtered body's length (read-only).
var contentLength = []byte("content-length")

// errBadChunk is a malformed chunked request body.
var errBadChunk = errors.New("malformed chunked body")

// sendHead sends a response head through the response chain: without
// filters (or for an interim head) at once; with them, held back until
// the chain lets the first body bytes through (sendBody).
func (x *exchange) sendHead(cc *Conn, resp *h1.Response, raw, body []byte, end bool) error {
	fr := x.flt
	if fr == nil || resp.Status < 200 || len(fr.started) == 0 {
		return x.fr.writeHead(cc, x, resp, raw, body, end)
	}
	if resp.Body == h1.BodyNone {
		fr.markHeadSent()
		return x.fr.writeHead(cc, x, resp, raw, body, end)
	}
	fr.hold(resp)
	return x.sendBody(cc, body, end)
}

// hold keeps a copy of the response head, its bytes in the transaction,
// as the server's buffer is reused for the body.
func (fr *filterRun) hold(resp *h1.Response) {
	txn := &fr.x.txn
	fr.held = *resp
	fr.held.Reason = nil
	fr.held.Fields = fr.heldFields[:0]
	for _, f := range resp.Fields {
		fr.held.Fields = append(fr.held.Fields, h1.Field{Name: txn.Keep(f.Name), Value: txn.Keep(f.Value)})
	}
	fr.holding = true
}

// sendBody sends response body bytes through the response chain.
func (x *exchange) sendBody(cc *Conn, p []byte, end bool) error {
	fr := x.flt
	if fr == nil || len(fr.started) == 0 || !fr.holding && !fr.headSent {
		return x.fr.writeBody(cc, x, p, end)
	}
	out, act := fr.runBody(fr.started, p, end, true)
	if act == actContinue && end {
		act = fr.responseTrailers()
	}
	if act != actContinue {
		cc.filterEnd(x, act, true)
		return &filterStop{act}
	}
	// With trailers, the body's end is the trailer section's.
	trailers := end && len(fr.respTr.fields) > 0
	if !fr.holding {
		if len(out) == 0 && !end {
			return nil
		}
		if trailers {
			if err := x.fr.writeBody(cc, x, out, false); err != nil {
				return err
			}
			return x.writeResponseTrailers(cc)
		}
		return x.fr.writeBody(cc, x, out, end)
	}
	if out == nil && !end {
		return nil
	}
	h := &fr.held
	h.Fields = session.DelFields(session.DelFields(h.Fields, contentLength), []byte("transfer-encoding"))
	switch {
	case end && !trailers:
		h.Body, h.ContentLength = h1.BodyLength, int64(len(out))
		x.name = strconv.AppendInt(x.name[:0], h.ContentLength, 10)
		h.Fields = append(h.Fields, h1.Field{Name: contentLength, Value: x.txn.Keep(x.name)})
	case x.fr.passChunks() && x.txn.Req.Minor == 0:
		// An HTTP/1.0 client knows no chunks: the body ends with the
		// connection.
		h.Body = h1.BodyUntilClose
		x.txn.Req.KeepAlive = false
	default:
		h.Body = h1.BodyChunked // the HTTP/1.1 front frames it; HTTP/2 needs no length
	}
	fr.heldFields = h.Fields[:0]
	fr.holding = false
	fr.markHeadSent()
	x.txn.RespEdited = true
	if trailers {
		if err := x.fr.writeHead(cc, x, h, nil, out, false); err != nil {
			return err
		}
		return x.writeResponseTrailers(cc)
	}
	return x.fr.writeHead(cc, x, h, nil, out, end)
}

// passChunks reports whether a chunked HTTP/1.1 response body goes to the
// client as received: not when filters see its content.
func (x *exchange) passChunks() bool {
	return x.fr.passChunks() && (x.flt == nil || len(x.flt.started) == 0)
}
