// The daemon's allocator settings, for builds linked with jemalloc (apps/trellis/CMakeLists.txt).
#ifdef TRELLIS_WITH_JEMALLOC
// jemalloc reads this at start-up. By default it gives blocks above 8 MiB an arena of their own
// that returns them to the OS as soon as they are freed, so every large message would fault in
// freshly zeroed pages again (16 MiB results over stdio: 370 MB/s instead of 1.1 GB/s). Threshold
// 0 lets them be reused like any other block; jemalloc's decay still hands memory that stays
// unused back to the OS after about 10 s.
extern "C" {
const char* malloc_conf = "oversize_threshold:0";
}
#endif
