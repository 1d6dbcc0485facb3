/* SPDX-License-Identifier: MIT */
/*
 * Must NOT compile under -std=c11 without a feature-test macro: the header
 * given as URT_STRICT_HEADER (urt/signal.h, urt/process.h, urt/dns.h)
 * needs POSIX types strict ISO C hides (sigset_t, siginfo_t, struct
 * addrinfo), and its #error says how to get them instead of a list of
 * unknown types. With _POSIX_C_SOURCE defined the same file compiles.
 */
#include URT_STRICT_HEADER
