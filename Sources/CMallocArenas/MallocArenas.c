#include "MallocArenas.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

int bookdelivery_limit_malloc_arenas(int arenas) {
#if defined(__GLIBC__)
    return mallopt(M_ARENA_MAX, arenas);
#else
    (void)arenas;
    return 0;
#endif
}
