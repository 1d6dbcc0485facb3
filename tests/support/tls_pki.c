/* SPDX-License-Identifier: MIT */
#include "support/tls_pki.h"

#include <stdio.h>
#include <stdlib.h>

static char pki[512];

void tls_pki_init(const char *suite)
{
	const char *dir = getenv("URT_TLS_PKI");

	if (!dir || !*dir) {
		fprintf(stderr, "%s: URT_TLS_PKI is not set (scripts/tls-certs.sh DIR makes one)\n",
			suite);
		exit(1);
	}
	snprintf(pki, sizeof(pki), "%s", dir);
}

const char *tls_pki_file(const char *name)
{
	static char path[8][600];
	static unsigned at;
	char *p = path[at++ % 8];

	snprintf(p, 600, "%s/%s", pki, name);
	return p;
}
