package plugins

import (
	"context"
	"testing"

	"github.com/strata-proxy/strata/abi"
	"github.com/strata-proxy/strata/core/sample"
)

// Every host function of the ABI has an implementation, and nothing else
// is implemented.
func TestHostImpls_MatchABI(t *testing.T) {
	for _, f := range abi.HostFuncs {
		if hostImpls[f.Name] == nil {
			t.Errorf("host function %s has no implementation", f.Name)
		}
	}
	if len(hostImpls) != len(abi.HostFuncs) {
		t.Errorf("%d implementations for %d host functions", len(hostImpls), len(abi.HostFuncs))
	}
}

// A Go guest fits in the configuration's default memory limit (32 MiB).
func TestLoad_GoGuestIn32MiB(t *testing.T) {
	e := newEnv(t)
	p := e.load(t, Config{Name: "uaclass", File: wasmFile(t, "uaclass"), MemoryLimit: 32 << 20})
	if v, ok := e.eval(t, "ua_class", httpCtx("user-agent", "curl/8")); !ok || v.String() != "cli" {
		t.Fatalf("ua_class = %v %v", v, ok)
	}
	p.Close(context.Background())
	if _, ok := e.eval(t, "ua_class", httpCtx()); ok {
		t.Error("a closed plugin answered")
	}
}

// The ABI's value types are numbered as the core's sample types, so values
// cross without translation.
func TestTypes_MatchSampleTypes(t *testing.T) {
	pairs := []struct {
		a abi.Type
		s sample.Type
	}{
		{abi.TypeNone, sample.TypeNone}, {abi.TypeBool, sample.TypeBool}, {abi.TypeInt, sample.TypeInt},
		{abi.TypeIP, sample.TypeIP}, {abi.TypeStr, sample.TypeStr}, {abi.TypeBin, sample.TypeBin},
	}
	for _, p := range pairs {
		if sample.Type(p.a) != p.s || p.a.String() != p.s.String() {
			t.Errorf("abi %v (%d) vs sample %v (%d)", p.a, p.a, p.s, p.s)
		}
	}
}
