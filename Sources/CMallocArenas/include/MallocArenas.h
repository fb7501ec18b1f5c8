#ifndef BOOKDELIVERY_MALLOC_ARENAS_H
#define BOOKDELIVERY_MALLOC_ARENAS_H

/// Caps how many malloc arenas glibc makes (`M_ARENA_MAX`); returns 1 on success, 0 elsewhere
/// (other C libraries, or glibc refusing). Call it before the process starts its threads.
int bookdelivery_limit_malloc_arenas(int arenas);

#endif
