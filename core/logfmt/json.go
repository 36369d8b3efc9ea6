package logfmt

import (
	"os"
	"strconv"
)

// jsonFields are the fields of the json preset: those of httplog, named
// after the words of HAProxy's manual (8.2.3), then the trace ids.
var jsonFields = []struct {
	key string
	v   varCode
}{
	{"client_ip", varClientIP},
	{"client_port", varClientPort},
	{"request_date", varReqDate},
	{"frontend_name", varFrontendTransport},
	{"backend_name", varBackend},
	{"server_name", varServer},
	{"TR", varTR},
	{"Tw", varTw},
	{"Tc", varTc},
	{"Tr", varTr},
	{"Ta", varTa},
	{"status_code", varStatus},
	{"bytes_read", varBytesOut},
	{"captured_request_cookie", varReqCookie},
	{"captured_response_cookie", varResCookie},
	{"termination_state", varTermStateCookie},
	{"actconn", varActConn},
	{"feconn", varFeConn},
	{"beconn", varBeConn},
	{"srv_conn", varSrvConn},
	{"retries", varRetries},
	{"srv_queue", varSrvQueue},
	{"backend_queue", varBeQueue},
	{"captured_request_headers", varReqCaptures},
	{"captured_response_headers", varResCaptures},
	{"http_request", varRequest},
	{"trace_id", varTraceID},
	{"span_id", varSpanID},
}

func jsonFormat() *Format {
	f := &Format{src: "json", json: true, pid: strconv.Itoa(os.Getpid())}
	f.host, _ = os.Hostname()
	for _, fd := range jsonFields {
		f.nodes = append(f.nodes, node{kind: nodeVar, v: fd.v, key: fd.key})
	}
	return f
}

// appendJSON renders the json preset: one object; captures are arrays
// (absent without captures), trace ids absent when not traced.
func (f *Format) appendJSON(b []byte, r *Record) []byte {
	b = append(b, '{')
	first := true
	for i := range f.nodes {
		n := &f.nodes[i]
		switch n.v {
		case varReqCaptures:
			if len(r.ReqCaptures) == 0 {
				continue
			}
		case varResCaptures:
			if len(r.ResCaptures) == 0 {
				continue
			}
		case varTraceID, varSpanID:
			if !r.Traced {
				continue
			}
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '"')
		b = append(b, n.key...)
		b = append(b, '"', ':')
		b = f.appendVar(b, n, r, true)
	}
	return append(b, '}', '\n')
}
