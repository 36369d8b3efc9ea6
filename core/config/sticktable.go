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
	// Shared, when set, shares the table with every strata instance of a
	// fleet through Redis (`shared`). nil: the table is this instance's.
	Shared *SharedTable
}

// SharedTable is `stick_tables.NAME.shared`: where the fleet's values live
// and how often they are exchanged.
type SharedTable struct {
	Redis RedisConfig
	// SyncInterval is how often deltas are pushed and fleet values pulled;
	// default 100ms. A fleet-wide limit may be overshot by what the fleet
	// lets through in one interval.
	SyncInterval time.Duration
}

// RedisConfig is how to reach Redis: one address (standalone), several
// (cluster), or a sentinel set with the master's name.
type RedisConfig struct {
	Address   string   // `address`: host:port of a standalone server
	Addresses []string // `addresses`: cluster nodes
	Sentinel  struct {
		Master    string   // `master`: the monitored master's name
		Addresses []string // `addresses`: sentinels
	}
	Username    string // `username`: ACL user
	PasswordEnv string // `password_env`: the variable holding the password
	TLS         bool   // `tls`: connect with TLS (system roots)
	DB          int    // `db`: database number (standalone and sentinel)
	KeyPrefix   string // `key_prefix`: default "strata:"
}

// Default values of a shared table.
const (
	DefaultSyncInterval   = 100 * time.Millisecond
	DefaultRedisKeyPrefix = "strata:"
)

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
	if o.has("shared") {
		t.Shared = d.sharedTable(o.sub("shared"))
	}
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

func (d *decoder) sharedTable(o *object) *SharedTable {
	s := &SharedTable{}
	s.SyncInterval, _ = o.duration("sync_interval", DefaultSyncInterval, time.Millisecond)
	r := o.sub("redis")
	c := &s.Redis
	c.Address = r.str("address", "")
	c.Addresses = r.list("addresses")
	sen := r.sub("sentinel")
	c.Sentinel.Master = sen.str("master", "")
	c.Sentinel.Addresses = sen.list("addresses")
	sen.done()
	c.Username = r.str("username", "")
	c.PasswordEnv = r.str("password_env", "")
	c.TLS = r.boolean("tls", false)
	c.DB = r.integer("db", 0, 0, 1<<20)
	c.KeyPrefix = r.str("key_prefix", DefaultRedisKeyPrefix)
	r.done()
	o.done()
	ways := 0
	for _, set := range []bool{c.Address != "", len(c.Addresses) > 0, c.Sentinel.Master != "" || len(c.Sentinel.Addresses) > 0} {
		if set {
			ways++
		}
	}
	switch {
	case ways == 0:
		d.errorf(joinPath(r.path, "address"), "write address: host:port (or addresses: [...] for a cluster, or sentinel: {master, addresses})", "required")
	case ways > 1:
		d.errorf(r.path, "keep one of address, addresses and sentinel", "more than one way to reach Redis")
	case c.Sentinel.Master == "" && len(c.Sentinel.Addresses) > 0:
		d.errorf(joinPath(r.path, "sentinel.master"), "name the master the sentinels monitor", "required with sentinel.addresses")
	case c.Sentinel.Master != "" && len(c.Sentinel.Addresses) == 0:
		d.errorf(joinPath(r.path, "sentinel.addresses"), "list the sentinels' host:port", "required with sentinel.master")
	}
	for i, a := range append([]string{c.Address}, append(c.Addresses, c.Sentinel.Addresses...)...) {
		if a == "" && i == 0 {
			continue
		}
		if _, msg, fix := parseHostPort(a, false); msg != "" {
			d.errorf(joinPath(r.path, "address"), fix, "%s: %s", a, msg)
		}
	}
	if len(c.Addresses) > 0 && c.DB != 0 {
		d.errorf(joinPath(r.path, "db"), "remove db: a Redis cluster has only database 0", "not for a cluster")
	}
	return s
}
