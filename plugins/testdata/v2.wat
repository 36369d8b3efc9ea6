;; Targets ABI v2, which this host does not serve.
(module
  (import "strata_v2" "layers" (func $layers (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "strata_abi_v2"))
  (func (export "strata_init") (result i32) (i32.const 0)))
