;; A strata plugin written from abi/SPEC.md alone, in WebAssembly text,
;; without the Go SDK. It registers three fetches:
;;   wat_host_len  (needs TXN, int)  length of the first "host" request header
;;   wat_layers    (int)             the layer set of the call
;;   wat_trap      (int)             executes unreachable
;; and one action:
;;   wat_deny      (http-request)    replies 418 with a text body and denies
(module
  (import "strata_v1" "register_fetch"
    (func $register_fetch (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "strata_v1" "register_action"
    (func $register_action (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "strata_v1" "layers" (func $layers (param i32) (result i32)))
  (import "strata_v1" "req_header_get"
    (func $req_header_get (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "strata_v1" "result_int" (func $result_int (param i32 i32 i64) (result i32)))
  (import "strata_v1" "reply_status" (func $reply_status (param i32 i32) (result i32)))
  (import "strata_v1" "reply_header_add"
    (func $reply_header_add (param i32 i32 i32 i32 i32) (result i32)))
  (import "strata_v1" "reply_body_write" (func $reply_body_write (param i32 i32 i32) (result i32)))

  (memory (export "memory") 1)
  (data (i32.const 0) "host")
  (data (i32.const 16) "wat_host_len")
  (data (i32.const 32) "wat_layers")
  (data (i32.const 48) "wat_trap")
  (data (i32.const 64) "wat_deny")
  (data (i32.const 80) "content-type")
  (data (i32.const 96) "text/plain")
  (data (i32.const 112) "I'm a teapot\n")

  ;; The version marker: never called.
  (func (export "strata_abi_v1"))

  (func $check (param $st i32)
    (if (i32.lt_s (local.get $st) (i32.const 0)) (then unreachable)))

  (func (export "strata_init") (result i32)
    ;; register_fetch(id, name, name_len, needs, out_type, arg_types, arg_count, min_args)
    (call $check (call $register_fetch (i32.const 0) (i32.const 16) (i32.const 12)
      (i32.const 8) (i32.const 2) (i32.const 0) (i32.const 0) (i32.const 0)))
    (call $check (call $register_fetch (i32.const 1) (i32.const 32) (i32.const 10)
      (i32.const 0) (i32.const 2) (i32.const 0) (i32.const 0) (i32.const 0)))
    (call $check (call $register_fetch (i32.const 2) (i32.const 48) (i32.const 8)
      (i32.const 0) (i32.const 2) (i32.const 0) (i32.const 0) (i32.const 0)))
    ;; register_action(id, name, name_len, points=http_request(8), min_args, max_args)
    (call $check (call $register_action (i32.const 3) (i32.const 64) (i32.const 8)
      (i32.const 8) (i32.const 0) (i32.const 0)))
    (i32.const 0))

  (func (export "strata_fetch") (param $ctx i32) (param $layers i32) (param $id i32) (result i32)
    (local $n i32)
    (if (i32.eq (local.get $id) (i32.const 0))
      (then
        ;; A zero-capacity buffer: the host returns the length only.
        (local.set $n (call $req_header_get (local.get $ctx)
          (i32.const 0) (i32.const 4) (i32.const 0) (i32.const 0) (i32.const 0)))
        (if (i32.eq (local.get $n) (i32.const -1)) (then (return (i32.const 0))))
        (if (i32.lt_s (local.get $n) (i32.const 0)) (then (return (local.get $n))))
        (drop (call $result_int (local.get $ctx) (i32.const 2) (i64.extend_i32_u (local.get $n))))
        (return (i32.const 1))))
    (if (i32.eq (local.get $id) (i32.const 1))
      (then
        (drop (call $result_int (local.get $ctx) (i32.const 2)
          (i64.extend_i32_u (call $layers (local.get $ctx)))))
        (return (i32.const 1))))
    (if (i32.eq (local.get $id) (i32.const 2)) (then unreachable))
    (i32.const -5))

  (func (export "strata_action") (param $ctx i32) (param $layers i32) (param $id i32) (param $point i32) (result i32)
    (call $check (call $reply_status (local.get $ctx) (i32.const 418)))
    (call $check (call $reply_header_add (local.get $ctx) (i32.const 80) (i32.const 12) (i32.const 96) (i32.const 10)))
    (call $check (call $reply_body_write (local.get $ctx) (i32.const 112) (i32.const 13)))
    (i32.const 2))
)
