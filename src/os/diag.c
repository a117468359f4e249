/* Diagnostics, below every layer that uses them: the one way hakmem
 * reports misuse it cannot survive (one line on stderr, "hakmem: <call>():
 * <what> <address>", then abort()), and, in the checked build, the poison
 * fill of free blocks that malloc verifies. Writes with write(2), never
 * allocates. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

_Noreturn hk_cold void hk__fatal_invalid(const char *call, const void *p, const char *what) {
  char msg[160];
  int n = snprintf(msg, sizeof msg, "hakmem: %s(): %s %p\n", call, what, p);
  if (n > 0) {
    ssize_t w = write(STDERR_FILENO, msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
    (void)w;
  }
  abort();
}

#ifdef HK_CHECKED
/* A free block keeps its first two words (link and key); the rest is
 * HK_POISON until malloc hands it out again. */
#define HK_POISON 0xDFu

void hk__poison(void *block, size_t size) {
  if (size > sizeof(hk__block_t))
    memset((uint8_t *)block + sizeof(hk__block_t), HK_POISON, size - sizeof(hk__block_t));
}

void hk__poison_check(const void *block, size_t size) {
  const uint8_t *q = (const uint8_t *)block + sizeof(hk__block_t);
  for (size_t i = 0; i + sizeof(hk__block_t) < size; i++)
    if (q[i] != HK_POISON) hk__fatal_invalid("malloc", block, "write after free to block");
}
#endif
