/* SPDX-License-Identifier: MIT */
/*
 * rawreq.c - the conformance suite's client: send one raw request and print
 * what comes back. Usage: rawreq PORT REQUEST [WAIT_MS]. REQUEST is in C
 * escapes (\r \n \t \\ \xHH), decoded here so a table line can hold any
 * byte. By default the write side is shut after the request, so the server
 * answers what it read and closes: the answers end at EOF, with no timing
 * to guess. With WAIT_MS the write side stays open (a client that waits,
 * as for "Expect: 100-continue") and reading stops after WAIT_MS without a
 * byte. Every read is bounded: 3 s without a byte ends it.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = (char)(ch | 0x20);
	return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* Decode C escapes of s into out; return the length. */
static size_t unescape(const char *s, char *out)
{
	size_t n = 0;

	while (*s) {
		if (*s != '\\' || !s[1]) {
			out[n++] = *s++;
			continue;
		}
		s++;
		switch (*s) {
		case 'r':
			out[n++] = '\r';
			s++;
			break;
		case 'n':
			out[n++] = '\n';
			s++;
			break;
		case 't':
			out[n++] = '\t';
			s++;
			break;
		case '0':
			out[n++] = 0;
			s++;
			break;
		case 'x':
			if (hexval(s[1]) >= 0 && hexval(s[2]) >= 0) {
				out[n++] = (char)(hexval(s[1]) * 16 + hexval(s[2]));
				s += 3;
				break;
			}
			/* fall through */
		default:
			out[n++] = *s++;
			break;
		}
	}
	return n;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int wait_ms = argc > 3 ? atoi(argv[3]) : 0, fd;
	size_t len, off = 0;
	char *req, buf[65536];

	if (argc < 3) {
		fprintf(stderr, "usage: rawreq PORT REQUEST [WAIT_MS]\n");
		return 2;
	}
	req = malloc(strlen(argv[2]) + 1);
	if (!req)
		return 1;
	len = unescape(argv[2], req);
	a.sin_port = htons((unsigned short)atoi(argv[1]));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		perror("rawreq: connect");
		return 1;
	}
	while (off < len) {
		ssize_t k = send(fd, req + off, len - off, MSG_NOSIGNAL);

		if (k <= 0)
			break; /* the server may close early: print what it said */
		off += (size_t)k;
	}
	if (!wait_ms)
		shutdown(fd, SHUT_WR);
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t k;

		if (poll(&p, 1, wait_ms ? wait_ms : 3000) <= 0)
			break;
		k = recv(fd, buf, sizeof(buf), 0);
		if (k <= 0)
			break;
		fwrite(buf, 1, (size_t)k, stdout);
	}
	close(fd);
	free(req);
	return 0;
}
