/*
 * Cross-memory attach (attach.c): a same-host client's pageable buffers read and written by the
 * worker itself with process_vm_readv / process_vm_writev, one copy instead of two through the
 * ring. Negotiated per session (tfi_attach_pid, tfi_attach_probe); used by dispatch (an IBUF or
 * OBUF that names the client's address), bulk.c (synchronous copies in pieces) and the request
 * loop (the pending write of an OBUF after the call).
 */
#ifndef TFUSE_WORKER_ATTACH_H
#define TFUSE_WORKER_ATTACH_H

#include "worker_int.h"

/* IBUF length word: the bytes are at u64 address (next word) in the client's memory. */
#define TFW_ATTACH_BIT (1ull << 62)
/* OBUF where word: the bytes go to u64 address (next word; a third word 0) in the client. */
#define TFW_ATTACH_WHERE 2u

/* Reads n bytes at the client's addr into dst / writes n bytes of src to the client's addr.
 * CUDA_ERROR_INVALID_VALUE for an address that is not the client's (all of it mapped, readable
 * or writable); CUDA_ERROR_NOT_PERMITTED when the kernel refuses the attach (the stub then stops
 * using it). Only after a successful probe; only the session's peer (SO_PEERCRED). */
CUresult tfw_attach_read(struct tfw_session *s, void *dst, uint64_t addr, uint64_t n);
CUresult tfw_attach_write(struct tfw_session *s, uint64_t addr, const void *src, uint64_t n);
/* 1 when the session negotiated the attach. */
int tfw_attach_on(void);

/* An IBUF naming the client's memory (dispatch): its bytes read into a buffer of the session;
 * NULL with the error kept for tfw_attach_error (or the request marked malformed). */
const void *tfw_attach_in(struct tfw_session *s, uint64_t addr, uint64_t len);
/* An OBUF naming the client's memory: tfw_get_out notes it (tfw_attach_note_out), and
 * tfw_out_buffer asks for the buffer the call writes, sent by tfw_attach_flush after the call. */
void tfw_attach_note_out(uint64_t addr);
int tfw_attach_out_pending(void);
void *tfw_attach_out(struct tfw_session *s, uint64_t len);
/* The error an attach of this request met (CUDA_SUCCESS if none). */
CUresult tfw_attach_error(void);
/* Before each request: forgets the previous one's attach state. */
void tfw_attach_reset(void);
/* 1 when the request named the client's memory: its input bytes were read into pageable
 * memory of the worker, which the backend's copy consumed before returning (the driver's rule
 * for pageable sources), so nothing needs synchronizing before the next request. */
int tfw_attach_used(void);
/* After the call (and the stream synchronize of a STREAMPT call): writes a pending OBUF to the
 * client when r is CUDA_SUCCESS; returns the call's result (or the write's error). */
CUresult tfw_attach_finish(struct tfw_session *s, CUresult r);

#endif
