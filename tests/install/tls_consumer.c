/*
 * A program built against an installed liburt_tls through pkg-config
 * urt-tls, as a user would build one: a client context (the system's
 * roots), a connection of it on a socket, and a server context refused
 * for want of a certificate. Whatever liburt_tls.so could fail to export,
 * or to find of liburt.so and libssl, fails here.
 */
#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include <urt/tls.h>

int main(void)
{
	struct urt_tls_ctx *cx = NULL, *bad = NULL;
	struct urt_tls c = { 0 };
	int sv[2], ret;

	ret = urt_tls_ctx_new(&(struct urt_tls_ctx_opts){ .client = true, .alpn = "http/1.1" },
			      &cx);
	if (ret) {
		fprintf(stderr, "tls consumer: client context: %d %s\n", ret,
			urt_tls_error_string());
		return 1;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		return 1;
	if (urt_tls_init(&c, cx, sv[0], "example.com") || urt_tls_version(&c) != 0 ||
	    urt_tls_free(&c))
		return 1;
	close(sv[0]);
	close(sv[1]);
	if (urt_tls_ctx_new(&(struct urt_tls_ctx_opts){ 0 }, &bad) != -EINVAL || bad)
		return 1;
	urt_tls_ctx_free(cx);
	puts("tls consumer: ok");
	return 0;
}
