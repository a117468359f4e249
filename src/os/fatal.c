/* The one way hakmem reports misuse it cannot survive: one line on stderr,
 * "hakmem: <call>(): <what> <address>", then abort(). Below every layer
 * that calls it; writes with write(2), never allocates. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
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
