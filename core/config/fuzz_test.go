package config

import (
	"errors"
	"testing"
)

// FuzzLoad feeds arbitrary bytes to Load as inline YAML: it must never
// panic, must return either a configuration or a non-empty *Errors whose
// entries all have a path and a message, and must say the same thing twice
// (no map-order dependence). Seeds are in testdata/fuzz/FuzzLoad.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(minimal))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Load(Sources{YAML: b})
		if err == nil {
			if c == nil {
				t.Fatal("Load returned neither a configuration nor an error")
			}
			return
		}
		if c != nil {
			t.Fatal("Load returned a configuration with an error")
		}
		var errs *Errors
		if !errors.As(err, &errs) || len(errs.List) == 0 {
			t.Fatalf("error %T %v is not a non-empty *Errors", err, err)
		}
		for _, e := range errs.List {
			if e.Path == "" || e.Msg == "" {
				t.Fatalf("error without a path or a message: %#v", e)
			}
		}
		_, err2 := Load(Sources{YAML: b})
		if err2 == nil || err2.Error() != err.Error() {
			t.Fatalf("second load differs:\n%v\n---\n%v", err, err2)
		}
	})
}
