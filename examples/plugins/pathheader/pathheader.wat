;; The path_header([name]) action of main.go written in WebAssembly text
;; against abi/SPEC.md, without an SDK or a language runtime: the floor a
;; plugin call costs, which the benchmark's hdr-wat row measures beside the
;; Go SDK (hdr-plugin), the native rule (hdr-rule) and HAProxy's Lua.
;; Build it with: wat2wasm pathheader.wat -o pathheader-wat.wasm
(module
  (import "strata_v1" "register_action"
    (func $register_action (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "strata_v1" "arg_count" (func $arg_count (param i32) (result i32)))
  (import "strata_v1" "arg_get" (func $arg_get (param i32 i32 i32 i32 i32) (result i32)))
  (import "strata_v1" "req_path_get" (func $req_path_get (param i32 i32 i32) (result i32)))
  (import "strata_v1" "req_header_set"
    (func $req_header_set (param i32 i32 i32 i32 i32) (result i32)))

  ;; 0: the action's name; 16: the default header name; 32: an argument's
  ;; type; 256: the header name given as argument (up to 256 bytes); 512:
  ;; the path (up to 127 KiB).
  (memory (export "memory") 2)
  (data (i32.const 0) "path_header")
  (data (i32.const 16) "x-path")

  (func (export "strata_abi_v1"))

  (func (export "strata_init") (result i32)
    (local $st i32)
    ;; register_action(id 0, name, name_len, points = http_request (8), min_args 0, max_args 1)
    (local.set $st (call $register_action (i32.const 0) (i32.const 0) (i32.const 11)
      (i32.const 8) (i32.const 0) (i32.const 1)))
    (if (result i32) (i32.lt_s (local.get $st) (i32.const 0))
      (then (local.get $st)) (else (i32.const 0))))

  (func (export "strata_action") (param $ctx i32) (param $layers i32) (param $id i32) (param $point i32) (result i32)
    (local $name i32) (local $name_len i32) (local $n i32)
    (local.set $name (i32.const 16))
    (local.set $name_len (i32.const 6))
    (if (i32.gt_s (call $arg_count (local.get $ctx)) (i32.const 0))
      (then
        (local.set $name_len (call $arg_get (local.get $ctx) (i32.const 0) (i32.const 32)
          (i32.const 256) (i32.const 256)))
        (if (i32.lt_s (local.get $name_len) (i32.const 0)) (then (return (local.get $name_len))))
        ;; ERR_ARG (-5): a header name longer than the buffer
        (if (i32.gt_u (local.get $name_len) (i32.const 256)) (then (return (i32.const -5))))
        (local.set $name (i32.const 256))))
    (local.set $n (call $req_path_get (local.get $ctx) (i32.const 512) (i32.const 130560)))
    (if (i32.lt_s (local.get $n) (i32.const 0)) (then (return (local.get $n))))
    (if (i32.gt_u (local.get $n) (i32.const 130560)) (then (return (i32.const -5))))
    (local.set $n (call $req_header_set (local.get $ctx) (local.get $name) (local.get $name_len)
      (i32.const 512) (local.get $n)))
    ;; CONTINUE (0), or the error
    (if (result i32) (i32.lt_s (local.get $n) (i32.const 0))
      (then (local.get $n)) (else (i32.const 0))))
)
