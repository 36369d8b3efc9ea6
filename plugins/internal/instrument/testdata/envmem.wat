;; The memory and the global remap.wat imports (host modules export only
;; functions).
(module
  (memory (export "mem") 1)
  (global (export "base") i32 (i32.const 100)))
