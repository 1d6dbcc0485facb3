/* SPDX-License-Identifier: MIT */
/* conform.c - one script on the real kernel and on the model (conform.h). */
#include "conform.h"

#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "test_support.h"
#include "urt/sim.h"

int conform_rec[CONFORM_NREC], conform_nrec;
struct urt_runtime *conform_rt;

void conform_run(struct urt_sim *sim, const struct urt_task_type *type)
{
	static struct conn_script st;
	struct urt_runtime rt;
	struct urt_join j;
	uint16_t port, port2;

	memset(&st, 0, sizeof(st));
	conform_nrec = 0;
	assert_int_equal(urt_runtime_init(&rt, &(struct urt_runtime_opts){ .sim = sim }), 0);
	conform_rt = &rt;
	st.lfd = urt_listen_tcp("127.0.0.1", 0, 16, 0, &port);
	assert_true(st.lfd >= 0);
	st.lfd2 = urt_listen_tcp("127.0.0.1", 0, 16, 0, &port2);
	assert_true(st.lfd2 >= 0);
	st.sa = (struct sockaddr_in){ .sin_family = AF_INET,
				      .sin_port = htons(port),
				      .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	st.sa2 = st.sa;
	st.sa2.sin_port = htons(port2);
	assert_int_equal(urt_spawn(&rt, type, &st, sizeof(st), &j), 0);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(urt_join_take(&j, NULL), 0);
	while (test_stats(&rt).ops_inflight)
		assert_true(urt_tick(&rt, URT_TICK_FOREVER) >= 0);
	test_runtime_end(&rt);
}

void conform(const struct urt_task_type *type, const int *says, int n)
{
	static int real[CONFORM_NREC], model[CONFORM_NREC];
	struct urt_sim *sim;
	int nreal, nmodel;
	bool differ = false;

	conform_run(NULL, type);
	memcpy(real, conform_rec, sizeof(conform_rec));
	nreal = conform_nrec;
	assert_int_equal(urt_sim_create(&sim, &(struct urt_sim_opts){ .seed = 1 }), 0);
	conform_run(sim, type);
	memcpy(model, conform_rec, sizeof(conform_rec));
	nmodel = conform_nrec;
	urt_sim_destroy(sim);
	print_message("  #  kernel-says | real | model\n");
	for (int i = 0; i < n || i < nreal || i < nmodel; i++) {
		int k = i < n ? says[i] : 0, r = i < nreal ? real[i] : 0,
		    m = i < nmodel ? model[i] : 0;

		print_message("  %2d: %6d | %6d | %6d%s\n", i, k, r, m,
			      k != r   ? "   <- the kernel differs from the table"
			      : k != m ? "   <- the model differs"
				       : "");
		differ |= k != m;
	}
	assert_int_equal(nreal, n);
	assert_memory_equal(real, says, sizeof(int) * (size_t)n);
	assert_int_equal(nmodel, n);
	assert_false(differ);
}
