package main

import (
	"errors"
	"testing"

	"github.com/strata-proxy/strata/sdk"
	"github.com/strata-proxy/strata/sdk/sdktest"
)

func TestBucket(t *testing.T) {
	h := sdktest.New()
	if err := h.Init(); err != nil {
		t.Fatal(err)
	}
	v, err := h.Convert("bucket", sdk.Str("alice"), 10)
	if err != nil {
		t.Fatal(err)
	}
	if v.Int != Bucket([]byte("alice"), 10) || v.Int < 0 || v.Int >= 10 {
		t.Errorf("bucket(alice, 10) = %d", v.Int)
	}
	again, _ := h.Convert("bucket", sdk.Str("alice"), 10)
	if again.Int != v.Int {
		t.Error("bucket is not stable")
	}
	if _, err := h.Convert("bucket", sdk.Str("alice"), 0); !errors.Is(err, sdk.ErrArg) {
		t.Errorf("bucket(0): err = %v, want ErrArg", err)
	}
}
