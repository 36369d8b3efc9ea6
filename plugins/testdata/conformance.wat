;; ABI conformance: a plugin written from abi/SPEC.md alone that exercises
;; each point where the host once disagreed with the page. The end-to-end
;; test (cmd/strata/internal/assemble, TestConformance_*) runs it through a proxy and
;; checks what a client sees. Statuses the guest gets from the host are
;; stored in txn variables, which http_after_response rules show as
;; response headers.
;;
;; Registrations (id: kind name):
;;   0 action conf_resp_deny     http-response: DENY with status 451 and a body
;;   1 action conf_resp_return   http-response: RETURN with status 203 and a body
;;   2 action conf_redirect      http-request: REDIRECT to /moved with a body
;;   3 action conf_route K NAME  http-request: route_set(K, NAME) -> txn.rc
;;   4 fetch  conf_badtype       registered int, sets a str: the result_bytes status
;;   5 action conf_hdr           http-request: req_header_set of two values the
;;                               wire refuses -> txn.hdr1, txn.hdr2
;;   6 target conf_pick(B, X)    arg_count -> txn.nargs, arg 1 -> txn.arg1,
;;                               chooses backend B; no argument: chooses nothing (0)
;;   7 converter conf_intconv    in int, out int: returns its input
;;   8 service conf_svc          HTTP: body "svc\n", no status; TCP: echoes each
;;                               DATA event's bytes as "[bytes]"
(module
  (import "strata_v1" "register_fetch"
    (func $register_fetch (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "strata_v1" "register_converter"
    (func $register_converter (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "strata_v1" "register_action"
    (func $register_action (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "strata_v1" "register_target"
    (func $register_target (param i32 i32 i32 i32 i32) (result i32)))
  (import "strata_v1" "register_service"
    (func $register_service (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "strata_v1" "arg_count" (func $arg_count (param i32) (result i32)))
  (import "strata_v1" "arg_get" (func $arg_get (param i32 i32 i32 i32 i32) (result i32)))
  (import "strata_v1" "input_get" (func $input_get (param i32 i32 i32 i32) (result i32)))
  (import "strata_v1" "result_int" (func $result_int (param i32 i32 i64) (result i32)))
  (import "strata_v1" "result_bytes" (func $result_bytes (param i32 i32 i32 i32) (result i32)))
  (import "strata_v1" "req_header_set"
    (func $req_header_set (param i32 i32 i32 i32 i32) (result i32)))
  (import "strata_v1" "var_set_int"
    (func $var_set_int (param i32 i32 i32 i32 i32 i64) (result i32)))
  (import "strata_v1" "var_set_bytes"
    (func $var_set_bytes (param i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "strata_v1" "route_set" (func $route_set (param i32 i32 i32 i32) (result i32)))
  (import "strata_v1" "reply_status" (func $reply_status (param i32 i32) (result i32)))
  (import "strata_v1" "reply_header_add"
    (func $reply_header_add (param i32 i32 i32 i32 i32) (result i32)))
  (import "strata_v1" "reply_body_write" (func $reply_body_write (param i32 i32 i32) (result i32)))
  (import "strata_v1" "req_body_read" (func $req_body_read (param i32 i32 i32 i32) (result i32)))

  (memory (export "memory") 1)
  (data (i32.const 0) "conf_resp_deny")
  (data (i32.const 16) "conf_resp_return")
  (data (i32.const 32) "conf_redirect")
  (data (i32.const 48) "conf_route")
  (data (i32.const 64) "conf_badtype")
  (data (i32.const 80) "conf_hdr")
  (data (i32.const 96) "conf_pick")
  (data (i32.const 112) "conf_intconv")
  (data (i32.const 128) "conf_svc")
  (data (i32.const 144) "content-type")
  (data (i32.const 160) "text/plain")
  (data (i32.const 176) "location")
  (data (i32.const 192) "/moved")
  (data (i32.const 208) "denied by plugin\n")
  (data (i32.const 240) "returned by plugin\n")
  (data (i32.const 272) "see /moved\n")
  (data (i32.const 288) "x-bad")
  (data (i32.const 304) "a\01b")
  (data (i32.const 312) "ab ")
  (data (i32.const 320) "rc")
  (data (i32.const 328) "hdr1")
  (data (i32.const 336) "hdr2")
  (data (i32.const 344) "nargs")
  (data (i32.const 352) "arg1")
  (data (i32.const 360) "svc\n")
  (data (i32.const 368) "[]")
  (data (i32.const 376) "str")
  ;; 1024: type_ptr; 1032: an int value; 2048, 2304: argument buffers;
  ;; 4096: body buffer.

  (func (export "strata_abi_v1"))

  (func $check (param $st i32)
    (if (i32.lt_s (local.get $st) (i32.const 0)) (then unreachable)))

  ;; txn variable NAME = v (int)
  (func $set_txn (param $ctx i32) (param $name i32) (param $len i32) (param $v i32)
    (call $check (call $var_set_int (local.get $ctx) (i32.const 2)
      (local.get $name) (local.get $len) (i32.const 2) (i64.extend_i32_s (local.get $v)))))

  ;; argument index into buf (256 bytes); returns its length
  (func $arg (param $ctx i32) (param $i i32) (param $buf i32) (result i32)
    (local $n i32)
    (local.set $n (call $arg_get (local.get $ctx) (local.get $i) (i32.const 1024)
      (local.get $buf) (i32.const 256)))
    (call $check (local.get $n))
    (local.get $n))

  (func $text_reply (param $ctx i32) (param $body i32) (param $len i32)
    (call $check (call $reply_header_add (local.get $ctx)
      (i32.const 144) (i32.const 12) (i32.const 160) (i32.const 10)))
    (call $check (call $reply_body_write (local.get $ctx) (local.get $body) (local.get $len))))

  (func (export "strata_init") (result i32)
    ;; register_action(id, name, name_len, points, min_args, max_args)
    (call $check (call $register_action (i32.const 0) (i32.const 0) (i32.const 14)
      (i32.const 16) (i32.const 0) (i32.const 0)))
    (call $check (call $register_action (i32.const 1) (i32.const 16) (i32.const 16)
      (i32.const 16) (i32.const 0) (i32.const 0)))
    (call $check (call $register_action (i32.const 2) (i32.const 32) (i32.const 13)
      (i32.const 8) (i32.const 0) (i32.const 0)))
    (call $check (call $register_action (i32.const 3) (i32.const 48) (i32.const 10)
      (i32.const 8) (i32.const 2) (i32.const 2)))
    ;; register_fetch(id, name, name_len, needs, out_type=int, arg_types, arg_count, min_args)
    (call $check (call $register_fetch (i32.const 4) (i32.const 64) (i32.const 12)
      (i32.const 0) (i32.const 2) (i32.const 0) (i32.const 0) (i32.const 0)))
    (call $check (call $register_action (i32.const 5) (i32.const 80) (i32.const 8)
      (i32.const 8) (i32.const 0) (i32.const 0)))
    ;; register_target(id, name, name_len, min_args, max_args)
    (call $check (call $register_target (i32.const 6) (i32.const 96) (i32.const 9)
      (i32.const 0) (i32.const 2)))
    ;; register_converter(id, name, name_len, in_type=int, out_type=int, ...)
    (call $check (call $register_converter (i32.const 7) (i32.const 112) (i32.const 12)
      (i32.const 2) (i32.const 2) (i32.const 0) (i32.const 0) (i32.const 0)))
    ;; register_service(id, name, name_len, modes=http|tcp, min_args, max_args)
    (call $check (call $register_service (i32.const 8) (i32.const 128) (i32.const 8)
      (i32.const 3) (i32.const 0) (i32.const 0)))
    (i32.const 0))

  (func (export "strata_action") (param $ctx i32) (param $layers i32) (param $id i32) (param $point i32) (result i32)
    (local $kind i32) (local $n i32)
    (if (i32.eq (local.get $id) (i32.const 0))
      (then
        (call $check (call $reply_status (local.get $ctx) (i32.const 451)))
        (call $text_reply (local.get $ctx) (i32.const 208) (i32.const 17))
        (return (i32.const 2))))
    (if (i32.eq (local.get $id) (i32.const 1))
      (then
        (call $check (call $reply_status (local.get $ctx) (i32.const 203)))
        (call $text_reply (local.get $ctx) (i32.const 240) (i32.const 19))
        (return (i32.const 3))))
    (if (i32.eq (local.get $id) (i32.const 2))
      (then
        (call $check (call $reply_header_add (local.get $ctx)
          (i32.const 176) (i32.const 8) (i32.const 192) (i32.const 6)))
        (call $text_reply (local.get $ctx) (i32.const 272) (i32.const 11))
        (return (i32.const 4))))
    (if (i32.eq (local.get $id) (i32.const 3))
      (then
        (drop (call $arg (local.get $ctx) (i32.const 0) (i32.const 2048)))
        (local.set $kind (i32.sub (i32.load8_u (i32.const 2048)) (i32.const 48)))
        (local.set $n (call $arg (local.get $ctx) (i32.const 1) (i32.const 2304)))
        (call $set_txn (local.get $ctx) (i32.const 320) (i32.const 2)
          (call $route_set (local.get $ctx) (local.get $kind) (i32.const 2304) (local.get $n)))
        (return (i32.const 0))))
    (if (i32.eq (local.get $id) (i32.const 5))
      (then
        (call $set_txn (local.get $ctx) (i32.const 328) (i32.const 4)
          (call $req_header_set (local.get $ctx) (i32.const 288) (i32.const 5) (i32.const 304) (i32.const 3)))
        (call $set_txn (local.get $ctx) (i32.const 336) (i32.const 4)
          (call $req_header_set (local.get $ctx) (i32.const 288) (i32.const 5) (i32.const 312) (i32.const 3)))
        (return (i32.const 0))))
    (i32.const -100))

  (func (export "strata_fetch") (param $ctx i32) (param $layers i32) (param $id i32) (result i32)
    ;; Registered as int: a str result is the guest's mistake.
    (call $check (call $result_int (local.get $ctx) (i32.const 2)
      (i64.extend_i32_s (call $result_bytes (local.get $ctx) (i32.const 4) (i32.const 376) (i32.const 3)))))
    (i32.const 1))

  (func (export "strata_convert") (param $ctx i32) (param $layers i32) (param $id i32) (result i32)
    (call $check (call $input_get (local.get $ctx) (i32.const 1024) (i32.const 1032) (i32.const 8)))
    (if (i32.ne (i32.load (i32.const 1024)) (i32.const 2)) (then unreachable))
    (call $check (call $result_int (local.get $ctx) (i32.const 2) (i64.load (i32.const 1032))))
    (i32.const 1))

  (func (export "strata_target") (param $ctx i32) (param $layers i32) (param $id i32) (result i32)
    (local $n i32) (local $len0 i32) (local $len1 i32)
    (local.set $n (call $arg_count (local.get $ctx)))
    (call $set_txn (local.get $ctx) (i32.const 344) (i32.const 5) (local.get $n))
    (if (i32.eqz (local.get $n)) (then (return (i32.const 0))))
    (local.set $len0 (call $arg (local.get $ctx) (i32.const 0) (i32.const 2048)))
    (if (i32.ge_s (local.get $n) (i32.const 2))
      (then
        (local.set $len1 (call $arg (local.get $ctx) (i32.const 1) (i32.const 2304)))
        (call $check (call $var_set_bytes (local.get $ctx) (i32.const 2) (i32.const 352) (i32.const 4)
          (i32.const 4) (i32.const 2304) (local.get $len1)))))
    (call $check (call $route_set (local.get $ctx) (i32.const 1) (i32.const 2048) (local.get $len0)))
    (i32.const 1))

  (func (export "strata_service") (param $ctx i32) (param $layers i32) (param $id i32) (param $event i32) (result i32)
    (local $n i32)
    (if (i32.eq (local.get $event) (i32.const 1))
      (then
        ;; No reply_status: the default status applies.
        (call $check (call $reply_body_write (local.get $ctx) (i32.const 360) (i32.const 4)))
        (return (i32.const 1))))
    (if (i32.eq (local.get $event) (i32.const 2))
      (then
        ;; Offset 0 is the first byte of this event's data.
        (local.set $n (call $req_body_read (local.get $ctx) (i32.const 0) (i32.const 4096) (i32.const 4096)))
        (if (i32.le_s (local.get $n) (i32.const 0)) (then (return (i32.const 1))))
        (if (i32.gt_s (local.get $n) (i32.const 4096)) (then (local.set $n (i32.const 4096))))
        (call $check (call $reply_body_write (local.get $ctx) (i32.const 368) (i32.const 1)))
        (call $check (call $reply_body_write (local.get $ctx) (i32.const 4096) (local.get $n)))
        (call $check (call $reply_body_write (local.get $ctx) (i32.const 369) (i32.const 1)))
        (return (i32.const 0))))
    (i32.const 1)))
