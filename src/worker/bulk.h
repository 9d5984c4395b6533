/*
 * Large copies in pieces (bulk.c): cuMemcpyHtoD_v2 / cuMemcpyDtoH_v2 of 1 MiB and more with
 * inline bytes, streamed between the transport and the device without gathering the whole
 * payload first. Called from worker.c's request loop only.
 */
#ifndef TFUSE_WORKER_BULK_H
#define TFUSE_WORKER_BULK_H

#include "worker_int.h"

/* For every request, before its payload is read: how many payload bytes to read now. A large
 * cuMemcpyHtoD_v2 gets its prefix only; its bytes stay in the transport for tfw_bulk_call. */
uint64_t tfw_bulk_prefix(struct tfw_session *s, const struct tf_frame_header *h);
/* After the call's context is current: 1 when the bulk path ran the call (result in *r, the
 * reply possibly sent already: tfw_bulk_replied), 0 for the ordinary handler. */
int tfw_bulk_call(struct tfw_session *s, uint32_t id, struct tfp_reader *in, CUresult *r);
/* 1 when the current request's reply went out with its bytes (do not send another). */
int tfw_bulk_replied(void);

#endif
