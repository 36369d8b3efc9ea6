// Command bucket is a strata plugin that provides the converter bucket(n):
// it maps a string (a user id, a cookie, an address) to a stable integer in
// [0, n), with FNV-1a. Use it to split traffic consistently.
//
//	http_request:
//	  - set-var txn.bucket req.cook(uid),bucket(100)
package main

import (
	"hash/fnv"

	"github.com/strata-proxy/strata/abi"
	"github.com/strata-proxy/strata/sdk"
)

func init() {
	sdk.RegisterConverter(sdk.Converter{
		Name: "bucket", In: abi.TypeStr, Out: abi.TypeInt,
		Args: []abi.Type{abi.TypeInt}, MinArgs: 0,
		Fn: bucket,
	})
}

func bucket(c *sdk.Ctx, in sdk.Value) (sdk.Value, error) {
	n := int64(100)
	if c.ArgCount() > 0 {
		v, err := c.ArgInt(0)
		if err != nil {
			return sdk.None, err
		}
		n = v
	}
	if n <= 0 {
		return sdk.None, sdk.ErrArg
	}
	return sdk.Int(Bucket(in.Bytes, n)), nil
}

// Bucket returns FNV-1a(b) mod n.
func Bucket(b []byte, n int64) int64 {
	h := fnv.New64a()
	h.Write(b)
	return int64(h.Sum64() % uint64(n))
}

func main() {}
