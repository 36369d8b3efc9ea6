;; A module that targets no ABI strata serves: it exports a memory and a
;; function whose name looks like a marker of an ABI version nobody serves.
(module
  (memory (export "memory") 1)
  (func (export "proxy_abi_version_0_1_0"))
  (func (export "malloc") (param i32) (result i32) (i32.const 0)))
