;; Imports a host function that does not exist and one with a wrong signature.
(module
  (import "strata_v1" "teleport" (func (param i32) (result i32)))
  (import "strata_v1" "layers" (func (param i64) (result i32)))
  (memory (export "memory") 1)
  (func (export "strata_abi_v1"))
  (func (export "strata_init") (result i32) (i32.const 0)))
