// A Proxy-Wasm filter in C against the raw ABI (no SDK), marker 0_2_1:
// it adds x-c-filter to the request, copies the request's :path into the
// response header x-c-path, and logs each request.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define IMPORT(name) __attribute__((import_module("env"), import_name(#name)))
#define EXPORT(name) __attribute__((export_name(#name)))

IMPORT(proxy_log) int32_t proxy_log(int32_t level, const char *msg, size_t size);
IMPORT(proxy_get_header_map_value) int32_t proxy_get_header_map_value(int32_t map, const char *key, size_t key_size, char **value, size_t *value_size);
IMPORT(proxy_add_header_map_value) int32_t proxy_add_header_map_value(int32_t map, const char *key, size_t key_size, const char *value, size_t value_size);

enum { REQUEST_HEADERS = 0, RESPONSE_HEADERS = 2, CONTINUE = 0 };

// One path per context is enough for a test: contexts are small ids.
static char *paths[4096];
static size_t path_sizes[4096];

EXPORT(proxy_abi_version_0_2_1) void proxy_abi_version_0_2_1(void) {}

EXPORT(proxy_on_memory_allocate) void *proxy_on_memory_allocate(size_t size) { return malloc(size); }

EXPORT(proxy_on_context_create) void proxy_on_context_create(uint32_t id, uint32_t parent) {}

EXPORT(proxy_on_vm_start) uint32_t proxy_on_vm_start(uint32_t id, size_t size) { return 1; }

EXPORT(proxy_on_configure) uint32_t proxy_on_configure(uint32_t id, size_t size) { return 1; }

EXPORT(proxy_on_request_headers) uint32_t proxy_on_request_headers(uint32_t id, uint32_t n, uint32_t eos) {
	static const char key[] = ":path";
	char *path = 0;
	size_t size = 0;
	if (proxy_get_header_map_value(REQUEST_HEADERS, key, sizeof key - 1, &path, &size) == 0 && id < 4096) {
		paths[id] = path;
		path_sizes[id] = size;
	}
	static const char name[] = "x-c-filter", value[] = "1";
	proxy_add_header_map_value(REQUEST_HEADERS, name, sizeof name - 1, value, sizeof value - 1);
	static const char msg[] = "c filter saw a request";
	proxy_log(2, msg, sizeof msg - 1);
	return CONTINUE;
}

EXPORT(proxy_on_response_headers) uint32_t proxy_on_response_headers(uint32_t id, uint32_t n, uint32_t eos) {
	static const char name[] = "x-c-path";
	if (id < 4096 && paths[id]) {
		proxy_add_header_map_value(RESPONSE_HEADERS, name, sizeof name - 1, paths[id], path_sizes[id]);
	}
	return CONTINUE;
}

EXPORT(proxy_on_done) uint32_t proxy_on_done(uint32_t id) { return 1; }

EXPORT(proxy_on_delete) void proxy_on_delete(uint32_t id) {
	if (id < 4096) {
		free(paths[id]);
		paths[id] = 0;
	}
}
