/* SPDX-License-Identifier: MIT */
/* resp.c - the RESP2 request parser (see resp.h). */
#include "resp.h"

#include <stdbool.h>
#include <string.h>

/* A decimal after a type byte, up to CRLF. Return: bytes up to and with the
 * CRLF; 0 if the line is not complete; -1 if it is not a number. */
static long number_line(const char *p, size_t n, int64_t *out)
{
	const char *cr = memchr(p, '\r', n);
	int64_t v = 0;
	bool neg = false;
	size_t i = 0;

	if (!cr)
		return n > 32 ? -1 : 0; /* no number is that long */
	if ((size_t)(cr - p) + 1 >= n)
		return 0; /* the \n has not come yet */
	if (cr[1] != '\n')
		return -1;
	if (p[0] == '-') {
		neg = true;
		i = 1;
	}
	if (p + i == cr || cr - p > 20)
		return -1;
	for (; p + i < cr; i++) {
		if (p[i] < '0' || p[i] > '9' || v > (INT64_MAX - (p[i] - '0')) / 10)
			return -1; /* not a digit, or past int64 (a fuzzer found it) */
		v = v * 10 + (p[i] - '0');
	}
	*out = neg ? -v : v;
	return cr - p + 2;
}

static long parse_inline(const char *buf, size_t n, const struct resp_limits *lim,
			 struct resp_cmd *cmd, const char **err)
{
	const char *nl = memchr(buf, '\n', n);
	size_t end, i = 0;

	if (!nl) {
		if (n > lim->max_inline) {
			*err = "ERR Protocol error: too big inline request";
			return -1;
		}
		return 0;
	}
	end = (size_t)(nl - buf);
	if (end && buf[end - 1] == '\r')
		end--;
	cmd->argc = 0;
	while (i < end) {
		size_t s;

		while (i < end && (buf[i] == ' ' || buf[i] == '\t'))
			i++;
		if (i == end)
			break;
		s = i;
		while (i < end && buf[i] != ' ' && buf[i] != '\t')
			i++;
		if (cmd->argc == lim->max_args) {
			*err = "ERR Protocol error: too many arguments";
			return -1;
		}
		cmd->argv[cmd->argc] = buf + s;
		cmd->len[cmd->argc++] = i - s;
	}
	return nl - buf + 1;
}

long resp_parse(const char *buf, size_t n, const struct resp_limits *lim, struct resp_cmd *cmd,
		const char **err)
{
	int64_t count;
	long used, k;

	cmd->need = n + 1;
	if (!n)
		return 0;
	if (buf[0] != '*')
		return parse_inline(buf, n, lim, cmd, err);
	k = number_line(buf + 1, n - 1, &count);
	if (k <= 0) {
		if (k < 0)
			*err = "ERR Protocol error: invalid multibulk length";
		return k;
	}
	if (count > (int64_t)lim->max_args) {
		*err = "ERR Protocol error: invalid multibulk length";
		return -1;
	}
	used = 1 + k;
	cmd->argc = 0;
	for (int64_t a = 0; a < count; a++) {
		int64_t len;

		if ((size_t)used >= n)
			return 0;
		if (buf[used] != '$') {
			*err = "ERR Protocol error: expected '$'";
			return -1;
		}
		k = number_line(buf + used + 1, n - (size_t)used - 1, &len);
		if (k <= 0) {
			if (k < 0)
				*err = "ERR Protocol error: invalid bulk length";
			return k;
		}
		if (len < 0 || (uint64_t)len > lim->max_bulk) {
			*err = "ERR Protocol error: invalid bulk length";
			return -1;
		}
		used += 1 + k;
		if ((uint64_t)n - (uint64_t)used < (uint64_t)len + 2) {
			cmd->need = (size_t)used + (size_t)len + 2;
			return 0;
		}
		if (buf[used + len] != '\r' || buf[used + len + 1] != '\n') {
			*err = "ERR Protocol error: bulk not followed by CRLF";
			return -1;
		}
		cmd->argv[cmd->argc] = buf + used;
		cmd->len[cmd->argc++] = (size_t)len;
		used += (long)len + 2;
	}
	return used;
}
