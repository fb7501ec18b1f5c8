// stdlib.h first: __GLIBC__ is defined by glibc's own headers, so it is unknown before one of them.
#include <stdlib.h>

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
