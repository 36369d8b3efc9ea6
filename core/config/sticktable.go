package config

import (
	"math"
	"time"
)

// StickTable is one entry of `stick_tables`. The data types in Store are
// kept as written; the stick-table package checks them.
type StickTable struct {
	Name string
	Path string // "stick_tables.NAME"
	// Type is the key type: ip (IPv4 and IPv6), ipv6, integer, string or
	// binary. Required.
	Type string
	// Len is the key length in bytes of string and binary tables; default
	// 32. 0 for the other types.
	Len int
	// Size is the number of entries, required: a count with an optional
	// suffix k, m or g (powers of 1024, as in HAProxy: "200k").
	Size int
	// Expire is how long an unused entry is kept; default 0, never (entries
	// are then only evicted, least recently used first, when the table is
	// full).
	Expire time.Duration
	// Store lists the data types stored, as written:
	// ["conn_cur", "http_req_rate(10s)"].
	Store []string
}

var stickKeyTypes = []string{"ip", "ipv6", "integer", "string", "binary"}

func (d *decoder) stickTable(name, path string, v any) *StickTable {
	o := d.entity(path, v)
	t := &StickTable{Name: name, Path: path}
	t.Type = o.oneOf("type", "", stickKeyTypes...)
	if t.Type == "" && !o.has("type") && !o.bad {
		d.errorf(joinPath(path, "type"), "use one of: ip, ipv6, integer, string, binary", "required")
	}
	t.Len = o.integer("len", 0, 1, 65535)
	t.Size = int(o.size("size", 0, 1, math.MaxInt32))
	if !o.has("size") && !o.bad {
		d.errorf(joinPath(path, "size"), `write the number of entries, e.g. size: 200k`, "required")
	}
	t.Expire, _ = o.duration("expire", 0, 0)
	t.Store = o.list("store")
	o.done()
	switch t.Type {
	case "string", "binary":
		if t.Len == 0 {
			t.Len = DefaultStickKeyLen
		}
	default:
		if o.has("len") {
			d.errorf(joinPath(path, "len"), "remove it, or set type: string or binary", "only for string and binary keys")
		}
		t.Len = 0
	}
	return t
}
