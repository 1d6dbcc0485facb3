/* SPDX-License-Identifier: MIT */
/*
 * tls_pki.h - the TLS suites' test PKI: the directory scripts/tls-certs.sh
 * made, which the CTest entry passes in URT_TLS_PKI.
 */
#ifndef URT_TLS_PKI_H
#define URT_TLS_PKI_H

/* tls_pki_init - take URT_TLS_PKI; without it, say so and exit 1. */
void tls_pki_init(const char *suite);

/* tls_pki_file - the path of a file of the PKI ("server.pem"); the string
 * lives until eight later calls. */
const char *tls_pki_file(const char *name);

#endif
