package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// sharedTable is minimal plus a shared table whose shared mapping is
// SHARED.
const sharedTable = minimal + `
stick_tables:
  per_ip:
    type: ip
    size: 1k
    store: [http_req_cnt]
    shared: SHARED
`

func TestLoad_SharedTable(t *testing.T) {
	cfg, err := Load(Sources{YAML: []byte(strings.Replace(sharedTable, "SHARED", `{ redis: { address: "127.0.0.1:6379", key_prefix: "x:", db: 2 }, sync_interval: 250ms }`, 1))})
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.StickTable("per_ip").Shared
	if s == nil {
		t.Fatal("shared: nil")
	}
	if s.Redis.Address != "127.0.0.1:6379" || s.Redis.KeyPrefix != "x:" || s.Redis.DB != 2 || s.SyncInterval != 250*time.Millisecond {
		t.Errorf("shared = %+v", *s)
	}
	cfg, err = Load(Sources{YAML: []byte(strings.Replace(sharedTable, "SHARED", `{ redis: { addresses: ["127.0.0.1:7001", "127.0.0.1:7002"] } }`, 1))})
	if err != nil {
		t.Fatal(err)
	}
	if s := cfg.StickTable("per_ip").Shared; s.SyncInterval != DefaultSyncInterval || s.Redis.KeyPrefix != DefaultRedisKeyPrefix || len(s.Redis.Addresses) != 2 {
		t.Errorf("defaults: %+v", *s)
	}
	if cfg.StickTable("per_ip").Shared == nil {
		t.Error("a cluster table is not shared")
	}
}

func TestLoad_SharedTableErrors(t *testing.T) {
	tests := []struct {
		name   string
		shared string
		want   []string
	}{
		{"no way to reach redis", `{ redis: {} }`,
			[]string{"stick_tables.per_ip.shared.redis.address: required; write address: host:port (or addresses: [...] for a cluster, or sentinel: {master, addresses})"}},
		{"two ways", `{ redis: { address: "127.0.0.1:6379", addresses: ["127.0.0.1:7001"] } }`,
			[]string{"stick_tables.per_ip.shared.redis: more than one way to reach Redis; keep one of address, addresses and sentinel"}},
		{"sentinel without master", `{ redis: { sentinel: { addresses: ["127.0.0.1:26379"] } } }`,
			[]string{"stick_tables.per_ip.shared.redis.sentinel.master: required with sentinel.addresses; name the master the sentinels monitor"}},
		{"db on a cluster", `{ redis: { addresses: ["127.0.0.1:7001"], db: 1 } }`,
			[]string{"stick_tables.per_ip.shared.redis.db: not for a cluster; remove db: a Redis cluster has only database 0"}},
		{"unknown key", `{ redis: { address: "127.0.0.1:6379" }, interval: 1s }`,
			[]string{"stick_tables.per_ip.shared.interval: unknown key; remove it; valid keys here: redis, sync_interval"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := errorLines(t, Sources{YAML: []byte(strings.Replace(sharedTable, "SHARED", tt.shared, 1))})
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}
