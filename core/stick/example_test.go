package stick_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/strata-proxy/strata/core/stick"
)

// A session tracks its client address (tcp-request connection track-sc0
// src); two keep-alive streams read it through their views and count their
// requests; the session ends. conn_cur and the reference count return to 0.
func Example() {
	store, err := stick.ParseStores("conn_cur,conn_cnt,http_req_rate(10s)")
	if err != nil {
		panic(err)
	}
	perIP, err := stick.NewTable(stick.Def{Name: "per_ip", Key: stick.KeyIP, Size: 1000, Expire: time.Minute, Store: store})
	if err != nil {
		panic(err)
	}
	now := time.UnixMilli(1_700_000_000_000)
	src := stick.KeyFromIP(netip.MustParseAddr("192.0.2.7"))

	var sess stick.Slots // embedded in the session
	sess.Track(0, perIP, src, now)

	for i := range 2 {
		var strm stick.Slots // embedded in each stream
		v := stick.View{Stream: &strm, Session: &sess}
		v.CountHTTPReq(now.Add(time.Duration(i) * time.Second))
		_, e, owned, _ := v.Entry(0)
		rate, _ := e.Get(stick.DataHTTPReqRate, 0, now.Add(time.Duration(i)*time.Second))
		fmt.Printf("stream %d: sc0_http_req_rate=%d owned=%v\n", i, rate, owned)
		strm.Release(now) // releases nothing: sc0 belongs to the session
	}

	fmt.Println(perIP.Header())
	perIP.Dump(now.Add(2*time.Second), nil, func(v stick.EntryView) { fmt.Println(v) })
	sess.Release(now.Add(2 * time.Second))
	perIP.Dump(now.Add(2*time.Second), nil, func(v stick.EntryView) { fmt.Println(v) })
	// Output:
	// stream 0: sc0_http_req_rate=1 owned=false
	// stream 1: sc0_http_req_rate=2 owned=false
	// # table: per_ip, type: ip, size:1000, used:1
	// key=192.0.2.7 use=1 exp=59000 conn_cnt=1 conn_cur=1 http_req_rate(10000)=2
	// key=192.0.2.7 use=0 exp=60000 conn_cnt=1 conn_cur=0 http_req_rate(10000)=2
}
