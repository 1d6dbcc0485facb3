// SPDX-License-Identifier: MIT
//
// test_cxx.cpp - the public headers in a C++ translation unit: every header
// compiles as C++ (extern "C", no C-only construct in an inline function or a
// macro a user expands), and a task written in C++ runs: the await macros, a
// channel, a sleep, a nop, a file read, the inline slab, pool and arena fast
// paths. Compiled as ISO C++17 with -pedantic-errors: a header that needs a
// GNU or C-only construct fails here. Plain asserts: cmocka is a C harness.
#include "urt/urt.h"
#include "urt/fault.h"
#include "urt/tls.h" // liburt_tls's header: compiles without OpenSSL's

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

#define CHECK(cond)                                                                  \
	do {                                                                         \
		if (!(cond)) {                                                       \
			std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
				     __LINE__, #cond);                               \
			std::exit(1);                                                \
		}                                                                    \
	} while (0)

namespace {

struct producer {
	urt_chan *ch;
	urt_op nap, never;
	int i, ret, other;
};

bool producer_poll(urt_task *t, void *arg)
{
	auto *st = static_cast<producer *>(arg);

	URT_BEGIN(t);
	for (st->i = 1; st->i <= 5; st->i++) {
		// two sources at once: the short sleep wins, the long one stays armed
		URT_AWAIT_ANY(t, st->ret = urt_sleep(t, &st->nap, 1000000),
			      st->other = urt_sleep(t, &st->never, 60000000000ull));
		URT_AWAIT(t, st->ret = urt_chan_send(t, st->ch, (uint64_t)st->i));
	}
	urt_op_cancel(&st->never);
	URT_AWAIT(t, st->other = urt_sleep(t, &st->never, 0));
	if (st->other != -ECANCELED)
		URT_RETURN(t, 1);
	urt_chan_close(st->ch);
	URT_END(t);
}

struct consumer {
	urt_chan *ch;
	urt_op op;
	int fd, ret;
	uint64_t v, sum;
	char buf[8];
};

bool consumer_poll(urt_task *t, void *arg)
{
	auto *st = static_cast<consumer *>(arg);

	URT_BEGIN(t);
	for (;;) {
		URT_AWAIT(t, st->ret = urt_chan_recv(t, st->ch, &st->v));
		if (st->ret)
			break;
		st->sum += st->v;
	}
	URT_AWAIT(t, st->ret = urt_nop(t, &st->op));
	if (st->ret)
		URT_RETURN(t, 1000);
	URT_AWAIT(t, st->ret = urt_read(t, &st->op, st->fd, st->buf, 4, 0));
	if (st->ret != 4 || std::memcmp(st->buf, "c++!", 4))
		URT_RETURN(t, 1001);
	URT_YIELD(t);
	URT_RETURN(t, st->sum);
	URT_END(t);
}

const urt_task_type producer_type = { producer_poll, nullptr, "producer" };
const urt_task_type consumer_type = { consumer_poll, nullptr, "consumer" };

} // namespace

int main()
{
	urt_runtime rt;
	urt_runtime_opts opts{};
	urt_chan ch;
	urt_join j;
	uint64_t out = 0;
	char path[] = "/tmp/urt-test-cxx-XXXXXX";
	int fd = mkstemp(path);

	CHECK(fd >= 0);
	CHECK(write(fd, "c++!", 4) == 4);
#ifdef URT_HAVE_TLS
	{ // and links: a server context without a certificate is refused
		urt_tls_ctx *x = nullptr;
		urt_tls_ctx_opts o{};

		CHECK(urt_tls_ctx_new(&o, &x) == -EINVAL && x == nullptr);
	}
#endif
	opts.slab = URT_SLAB_BOUNDED;
	opts.slot_size = 256;
	int ret = urt_runtime_init(&rt, &opts);
	if (ret == -ENOSYS || ret == -EPERM) {
		std::printf("io_uring unavailable: skipped\n");
		return 77;
	}
	CHECK(ret == 0);
	CHECK(urt_chan_init(&ch, 2, nullptr) == 0);

	producer p{};
	p.ch = &ch;
	consumer c{};
	c.ch = &ch;
	c.fd = fd;
	CHECK(urt_spawn_slab(&producer_type, &p, sizeof(p), nullptr) == 0);
	CHECK(urt_spawn(&rt, &consumer_type, &c, sizeof(c), &j) == 0);
	CHECK(urt_run(&rt) == 0);
	CHECK(urt_join_take(&j, &out) == 0);
	CHECK(out == 15);

	// the inline fast paths, from C++
	urt_slab s;
	urt_slab_opts so{};
	so.slot_size = 64;
	so.slots = 4;
	CHECK(urt_slab_init(&s, &so) == 0);
	urt_slot slot;
	CHECK(urt_slab_alloc(&s, &slot) == 0);
	urt_slab_free(&s, slot.ptr, slot.chunk);
	urt_slab_deinit(&s);

	void *f = urt_frame_alloc(32, 16);
	CHECK(f != nullptr);

	struct urt_runtime_stats st;
	urt_runtime_stats(&rt, &st);
	CHECK(st.ops_live == 0);
	urt_chan_deinit(&ch);
	CHECK(urt_runtime_deinit(&rt) == 0);
	close(fd);
	unlink(path);
	std::printf("c++: ok\n");
	return 0;
}
