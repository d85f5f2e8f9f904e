// A check that stops the fuzzer: libFuzzer keeps the input that failed it as a crash file.
// Unlike assert() it stays on in optimised builds.
#pragma once

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(condition, what)                                                            \
  do {                                                                                         \
    if (!(condition)) {                                                                        \
      std::fprintf(stderr, "%s:%d: check failed: %s: %s\n", __FILE__, __LINE__, #condition,    \
                   what);                                                                      \
      std::abort();                                                                            \
    }                                                                                          \
  } while (false)
