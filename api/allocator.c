/*
 * The query server's allocator settings, read by jemalloc when the server
 * is linked with it (CMakeLists.txt; MALLOC_CONF in the environment still
 * overrides them).
 *
 * A commit that touches an owner makes its copies of that owner's words
 * and terms stale, and they are made again (query/snapcache.h): several
 * megabytes freed and allocated per second while the indexer follows a
 * write load. jemalloc keeps freed pages for ten seconds by default, in
 * each of its arenas, and returns them only when a thread allocates: the
 * server held 150 MB after 20 s of the portal's callers beside the write
 * load, ~80 MB of it pages freed and kept (bench/analysis.md). Freed pages
 * go back after a second, from a background thread, so also when the
 * server falls idle.
 */
const char *malloc_conf = "background_thread:true,dirty_decay_ms:1000";
