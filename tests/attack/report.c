/* SPDX-License-Identifier: MIT */
/*
 * report.c - urt-attack --report: the cells' lines gathered into the attack
 * x server matrix (a missing cell or a FAIL fails the run), or with
 * --bench the table of figures, the median of each cell's runs.
 */
#define _GNU_SOURCE
#include "attack.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RUNS 9

struct fig {
	char status[700];
	int runs;
	double v[6][RUNS]; /* base rps, attack rps, rss KiB, fresh ms, held, total */
};

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_d);
	return n ? v[n / 2] : 0;
}

static int find(const char *s, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(s, names[i]))
			return (int)i;
	return -1;
}

static int read_cells(const char *file, struct fig *f, const struct attack *a, size_t na,
		      const char *const *servers, size_t ns)
{
	char line[2048];
	FILE *in = fopen(file, "r");

	if (!in) {
		perror(file);
		return -1;
	}
	while (fgets(line, sizeof(line), in)) {
		char *fld[10], *save = NULL, *p = line;
		int n = 0, ai = -1, si;

		line[strcspn(line, "\n")] = 0;
		while (n < 10 && (fld[n] = strtok_r(p, "\t", &save)))
			p = NULL, n++;
		if (n != 10 || strcmp(fld[0], "cell"))
			continue;
		for (size_t i = 0; i < na; i++)
			if (!strcmp(a[i].name, fld[1]))
				ai = (int)i;
		si = find(fld[2], servers, ns);
		if (ai < 0 || si < 0)
			continue;
		struct fig *c = &f[(size_t)ai * ns + (size_t)si];
		/* a FAIL in any run stands */
		if (!c->runs || strncmp(c->status, "FAIL", 4))
			snprintf(c->status, sizeof(c->status), "%s", fld[3]);
		if (c->runs < RUNS) {
			for (int k = 0; k < 6; k++)
				c->v[k][c->runs] = atof(fld[4 + k]);
			c->runs++;
		}
	}
	fclose(in);
	return 0;
}

static void print_bench(struct fig *f, const struct attack *a, size_t na,
			const char *const *servers, size_t ns)
{
	printf("| server | attack | req/s alone | req/s attacked | ratio (goal >= 0.9) | RSS growth KiB "
	       "| fresh client ms (goal < 100) | ring held at worst | cell |\n");
	printf("|---|---|---|---|---|---|---|---|---|\n");
	for (size_t s = 0; s < ns; s++) {
		for (size_t i = 0; i < na; i++) {
			struct fig *c = &f[i * ns + s];
			double m[6];

			if (!c->runs || !strncmp(c->status, "n/a", 3))
				continue;
			for (int k = 0; k < 6; k++)
				m[k] = median(c->v[k], c->runs);
			printf("| %s | %s | %.0f | %.0f | %.2f | %.0f | %.1f | ", servers[s], a[i].name,
			       m[0], m[1], m[0] > 0 ? m[1] / m[0] : 0, m[2], m[3]);
			if (m[5] > 0)
				printf("%.0f/%.0f | %.4s |\n", m[4], m[5], c->status);
			else
				printf("not printed | %.4s |\n", c->status);
		}
	}
}

int report_print(const char *file, bool bench, const struct attack *a, size_t na,
		 const char *const *servers, size_t ns)
{
	struct fig *f = calloc(na * ns, sizeof(*f));
	int bad = 0, missing = 0;

	if (!f || read_cells(file, f, a, na, servers, ns))
		return 1;
	if (bench) {
		print_bench(f, a, na, servers, ns);
		free(f);
		return 0;
	}
	printf("| attack |");
	for (size_t s = 0; s < ns; s++)
		printf(" urt-%s |", servers[s]);
	printf("\n|---|");
	for (size_t s = 0; s < ns; s++)
		printf("---|");
	printf("\n");
	for (size_t i = 0; i < na; i++) {
		printf("| %s |", a[i].name);
		for (size_t s = 0; s < ns; s++) {
			struct fig *c = &f[i * ns + s];

			if (!c->runs) {
				missing++;
				printf(" MISSING |");
				continue;
			}
			bad += !strncmp(c->status, "FAIL", 4);
			printf(" %s |", c->status);
		}
		printf("\n");
	}
	printf("urt-attack: %d FAIL, %d missing of %zu cells\n", bad, missing, na * ns);
	free(f);
	return bad || missing ? 1 : 0;
}
