/*
 * The sm_80/sm_90 asynchronous-copy family: mbarrier (init, inval, arrive, arrive_drop,
 * arrive.expect_tx, expect_tx, complete_tx, test_wait, try_wait with .parity, pending_count),
 * cp.async.mbarrier.arrive(.noinc), cp.async.bulk between global and shared memory (with
 * mbarrier::complete_tx completion, or a bulk group), cp.async.bulk.prefetch, the bulk group
 * commit/wait, elect.sync and setmaxnreg (a no-op). Owns the decoding of their modifiers and
 * operands (called by ptx_decode.c) and their executors. Calls the operand and memory helpers
 * of ptx_exec.c and ptx_ops_mem.c.
 *
 * Copies run synchronously when issued, so an asynchronous copy has completed by the time any
 * later instruction looks: its bytes are counted against the mbarrier's transaction count at
 * once, and group waits have nothing to wait for. Clusters have one CTA, so shared::cluster
 * addresses are the CTA's own shared addresses.
 *
 * An mbarrier is a 64-bit word in shared memory, opaque to programs; ours holds the pending
 * arrival count (bits 0-20), the expected count (21-41), the transaction count (42-62, signed:
 * bytes may land before they are expected) and the current phase's parity (bit 63). The
 * state token returned by arrive is the parity of the phase it arrived on (bit 63) and the
 * pending count after the arrival (bits 0-20).
 */
#include "ptx_internal.h"

enum { MB_INIT = 1, MB_INVAL, MB_ARRIVE, MB_ARRIVE_DROP, MB_EXPECT_TX, MB_COMPLETE_TX,
       MB_TEST_WAIT, MB_TRY_WAIT, MB_PENDING_COUNT, MB_CP_ASYNC_ARRIVE };
enum { BULK_COPY = 1, BULK_PREFETCH, BULK_COMMIT, BULK_WAIT };

/* flags of these instructions, kept in ptx_insn.boolop */
#define AF_EXPECT_TX 0x1u  /* arrive.expect_tx */
#define AF_PARITY 0x2u     /* test_wait.parity / try_wait.parity */
#define AF_NOINC 0x4u      /* cp.async.mbarrier.arrive.noinc */
#define AF_MBARRIER 0x8u   /* cp.async.bulk ... .mbarrier::complete_tx::bytes */

#define MB_COUNT_BITS 21
#define MB_COUNT_MASK ((1ull << MB_COUNT_BITS) - 1)
#define MB_MAX_COUNT ((1ll << 20) - 1)

/* ---- modifiers and operands --------------------------------------------------------------- */

static int mbarrier_mode(const char *m)
{
    static const char *const names[] = {"init", "inval", "arrive", "arrive_drop", "expect_tx",
                                        "complete_tx", "test_wait", "try_wait",
                                        "pending_count"};
    for (int i = 0; i < 9; i++)
        if (!strcmp(m, names[i]))
            return MB_INIT + i;
    return 0;
}

static int mbarrier_modifier(ptx_insn *in, const char *m)
{
    int mode = mbarrier_mode(m);
    if (mode == MB_EXPECT_TX && (in->cmp == MB_ARRIVE || in->cmp == MB_ARRIVE_DROP)) {
        in->boolop |= AF_EXPECT_TX;
        return 1;
    }
    if (mode && (!in->cmp || (in->cmp == MB_CP_ASYNC_ARRIVE && mode == MB_ARRIVE))) {
        if (!in->cmp)
            in->cmp = (uint8_t)mode;
        return 1;
    }
    if (!strcmp(m, "parity") && (in->cmp == MB_TEST_WAIT || in->cmp == MB_TRY_WAIT)) {
        in->boolop |= AF_PARITY;
        return 1;
    }
    if (!strcmp(m, "noinc") && in->cmp == MB_CP_ASYNC_ARRIVE) {
        in->boolop |= AF_NOINC;
        return 1;
    }
    if (!strcmp(m, "shared::cluster")) {
        in->space = SP_SHARED;
        return 1;
    }
    return !strcmp(m, "noComplete");
}

static int bulk_space(const char *m)
{
    if (!strcmp(m, "global")) return SP_GLOBAL;
    if (!strcmp(m, "shared::cluster") || !strcmp(m, "shared::cta") || !strcmp(m, "shared"))
        return SP_SHARED;
    return -1;
}

/* cp.async.bulk{.dst}{.src}...: the first space is the destination (in->space), the second the
 * source (in->type3); for .prefetch the only space is the source. */
static int bulk_modifier(ptx_insn *in, const char *m)
{
    int sp = bulk_space(m);
    if (sp >= 0) {
        if (in->cmp == BULK_PREFETCH || in->flags & F_TO)
            in->type3 = (uint8_t)sp;
        else
            in->space = (uint8_t)sp;
        in->flags |= F_TO; /* the next space is the source */
        return 1;
    }
    if (!strcmp(m, "prefetch")) { in->cmp = BULK_PREFETCH; return 1; }
    if (!strcmp(m, "commit_group")) { in->cmp = BULK_COMMIT; return 1; }
    if (!strcmp(m, "wait_group")) { in->cmp = BULK_WAIT; return 1; }
    if (!strcmp(m, "mbarrier::complete_tx::bytes")) { in->boolop |= AF_MBARRIER; return 1; }
    return !strcmp(m, "read") || !strcmp(m, "bulk_group") || !strcmp(m, "multicast::cluster");
}

/* 1 when m is a modifier of one of this file's instructions (and was recorded). */
int ptx_async_modifier(ptx_insn *in, const char *m)
{
    if (in->op == OP_CP_ASYNC && !strcmp(m, "bulk")) {
        in->op = OP_CP_BULK;
        in->cmp = BULK_COPY;
        return 1;
    }
    if (in->op == OP_CP_ASYNC && !strcmp(m, "mbarrier")) {
        in->op = OP_MBARRIER;
        in->cmp = MB_CP_ASYNC_ARRIVE;
        return 1;
    }
    if (in->op == OP_MBARRIER)
        return mbarrier_modifier(in, m);
    if (in->op == OP_CP_BULK)
        return bulk_modifier(in, m);
    if (in->op == OP_NOP && (!strcmp(m, "inc") || !strcmp(m, "dec")))
        return 1; /* setmaxnreg.inc/.dec */
    return 0;
}

static int is_addr(const ptx_operand *o) { return o->kind == OK_ADDR; }

static int is_value_or_imm(const ptx_operand *o)
{
    return o->kind == OK_REG || o->kind == OK_IMM;
}

/* The operand forms each mbarrier mode takes. */
static int mbarrier_operands_ok(const ptx_insn *in)
{
    const ptx_operand *o = in->o;
    switch (in->cmp) {
    case MB_INIT: case MB_EXPECT_TX: case MB_COMPLETE_TX:
        return in->nops == 2 && is_addr(&o[0]) && is_value_or_imm(&o[1]);
    case MB_INVAL: case MB_CP_ASYNC_ARRIVE:
        return in->nops == 1 && is_addr(&o[0]);
    case MB_ARRIVE: case MB_ARRIVE_DROP:
        return (in->nops == 2 || in->nops == 3) && (o[0].kind == OK_REG || o[0].kind == OK_NONE) &&
               is_addr(&o[1]) && (in->nops == 2 || is_value_or_imm(&o[2])) &&
               (!(in->boolop & AF_EXPECT_TX) || in->nops == 3);
    case MB_TEST_WAIT: case MB_TRY_WAIT:
        return (in->nops == 3 || in->nops == 4) && o[0].kind == OK_REG && is_addr(&o[1]) &&
               is_value_or_imm(&o[2]);
    case MB_PENDING_COUNT:
        return in->nops == 2 && o[0].kind == OK_REG && is_value_or_imm(&o[1]);
    default:
        return 0;
    }
}

static int bulk_operands_ok(const ptx_insn *in)
{
    const ptx_operand *o = in->o;
    switch (in->cmp) {
    case BULK_COPY:
        return in->nops >= 3 && is_addr(&o[0]) && is_addr(&o[1]) && is_value_or_imm(&o[2]) &&
               (!(in->boolop & AF_MBARRIER) || (in->nops >= 4 && is_addr(&o[3]))) &&
               in->type3 && (in->space == SP_SHARED || in->type3 == SP_SHARED);
    case BULK_PREFETCH:
        return in->nops >= 2 && is_addr(&o[0]) && is_value_or_imm(&o[1]);
    case BULK_COMMIT:
        return in->nops == 0;
    case BULK_WAIT:
        return in->nops == 1 && o[0].kind == OK_IMM;
    default:
        return 0;
    }
}

static void x_mbarrier(ptx_warp *w, const ptx_insn *in, uint32_t mask);
static void x_bulk(ptx_warp *w, const ptx_insn *in, uint32_t mask);
static void x_elect(ptx_warp *w, const ptx_insn *in, uint32_t mask);

int ptx_async_check(ptx_insn *in, char *err, size_t errlen)
{
    int ok;
    switch (in->op) {
    case OP_MBARRIER:
        ok = mbarrier_operands_ok(in) && (in->space == SP_SHARED || in->space == SP_GENERIC);
        in->exec = x_mbarrier;
        break;
    case OP_CP_BULK:
        ok = bulk_operands_ok(in);
        in->exec = x_bulk;
        break;
    default: /* elect.sync d|p, membermask */
        ok = in->nops == 2 && (in->o[0].kind == OK_REG || in->o[0].kind == OK_NONE) &&
             is_value_or_imm(&in->o[1]);
        in->exec = x_elect;
        break;
    }
    if (!ok)
        snprintf(err, errlen, "'%s': operands or form not supported", in->name);
    return ok ? 0 : -1;
}

/* ---- mbarrier ----------------------------------------------------------------------------- */

typedef struct { int64_t pending, expected, tx; unsigned phase; } mbar;

static mbar mb_unpack(uint64_t v)
{
    mbar b = {(int64_t)(v & MB_COUNT_MASK), (int64_t)((v >> 21) & MB_COUNT_MASK),
              ptx_sext((v >> 42) & MB_COUNT_MASK, MB_COUNT_BITS), (unsigned)(v >> 63)};
    return b;
}

static uint64_t mb_pack(mbar b)
{
    return ((uint64_t)b.pending & MB_COUNT_MASK) | (((uint64_t)b.expected & MB_COUNT_MASK) << 21) |
           (((uint64_t)b.tx & MB_COUNT_MASK) << 42) | ((uint64_t)b.phase << 63);
}

/* The phase completes when every expected arrival and every expected byte has come. */
static void mb_maybe_complete(mbar *b)
{
    if (b->pending == 0 && b->tx == 0) {
        b->phase ^= 1u;
        b->pending = b->expected;
    }
}

static uint64_t *mb_word(ptx_warp *w, const ptx_insn *in, const ptx_operand *o, int L)
{
    return ptx_translate(w, in, in->op == OP_CP_BULK ? SP_SHARED : in->space,
                         ptx_operand_addr(w, o, L), 8, L, 1);
}

static uint64_t lane_value(ptx_warp *w, const ptx_insn *in, int idx, int L)
{
    ptx_src s = ptx_get_src(w, in, idx);
    return s.p[L & s.m];
}

static int mb_fail_range(ptx_warp *w, const ptx_insn *in, int L, const mbar *b)
{
    if (b->pending >= 0 && b->expected >= 0 && b->tx >= -MB_MAX_COUNT && b->tx <= MB_MAX_COUNT)
        return 0;
    ptx_fail(w, in, L, PTX_ERR_LAUNCH_FAILED,
             "mbarrier count out of range (pending %lld, expected %lld, tx %lld)",
             (long long)b->pending, (long long)b->expected, (long long)b->tx);
    return 1;
}

/* Adds tx bytes to (expect_tx) or removes them from (complete_tx) the current phase. */
static int mb_tx(ptx_warp *w, const ptx_insn *in, uint64_t *word, int64_t bytes, int L)
{
    mbar b = mb_unpack(*word);
    b.tx += bytes;
    if (mb_fail_range(w, in, L, &b))
        return -1;
    mb_maybe_complete(&b);
    *word = mb_pack(b);
    return 0;
}

/* An arrival of `count` threads (arrive_drop also lowers the expected count from the next
 * phase on). Returns the state token. */
static uint64_t mb_arrive(ptx_warp *w, const ptx_insn *in, uint64_t *word, int64_t count,
                          int drop, int L)
{
    mbar b = mb_unpack(*word);
    uint64_t token = (uint64_t)b.phase << 63;
    b.pending -= count;
    if (drop)
        b.expected -= count;
    if (mb_fail_range(w, in, L, &b))
        return 0;
    token |= (uint64_t)b.pending & MB_COUNT_MASK;
    mb_maybe_complete(&b);
    *word = mb_pack(b);
    return token;
}

/* test_wait/try_wait: has the phase named by the token (or by the parity) completed? */
static uint64_t mb_phase_done(const ptx_insn *in, uint64_t word, uint64_t operand)
{
    unsigned asked = in->boolop & AF_PARITY ? (unsigned)(operand & 1) : (unsigned)(operand >> 63);
    return mb_unpack(word).phase != asked;
}

static void mbarrier_lane(ptx_warp *w, const ptx_insn *in, int L)
{
    if (in->cmp == MB_PENDING_COUNT) {
        ptx_dst(w, in->o[0].reg)[L] = lane_value(w, in, 1, L) & MB_COUNT_MASK;
        return;
    }
    int arrive = in->cmp == MB_ARRIVE || in->cmp == MB_ARRIVE_DROP;
    int waits = in->cmp == MB_TEST_WAIT || in->cmp == MB_TRY_WAIT;
    uint64_t *word = mb_word(w, in, &in->o[arrive || waits ? 1 : 0], L);
    if (!word)
        return;
    switch (in->cmp) {
    case MB_INIT: {
        int64_t n = (int64_t)(uint32_t)lane_value(w, in, 1, L);
        if (n < 1 || n > MB_MAX_COUNT) {
            ptx_fail(w, in, L, PTX_ERR_LAUNCH_FAILED, "mbarrier.init count %lld out of range",
                     (long long)n);
            return;
        }
        mbar b = {n, n, 0, 0};
        *word = mb_pack(b);
        return;
    }
    case MB_INVAL: *word = 0; return;
    case MB_EXPECT_TX: mb_tx(w, in, word, (int64_t)(uint32_t)lane_value(w, in, 1, L), L); return;
    case MB_COMPLETE_TX: mb_tx(w, in, word, -(int64_t)(uint32_t)lane_value(w, in, 1, L), L); return;
    case MB_CP_ASYNC_ARRIVE:
        /* the copies are done: without .noinc the count is raised and lowered again */
        if (in->boolop & AF_NOINC)
            mb_arrive(w, in, word, 1, 0, L);
        return;
    case MB_TEST_WAIT: case MB_TRY_WAIT:
        ptx_dst(w, in->o[0].reg)[L] = mb_phase_done(in, *word, lane_value(w, in, 2, L));
        return;
    default: {
        int64_t count = 1;
        if ((in->boolop & AF_EXPECT_TX) &&
            mb_tx(w, in, word, (int64_t)(uint32_t)lane_value(w, in, 2, L), L) < 0)
            return;
        if (in->nops == 3 && !(in->boolop & AF_EXPECT_TX))
            count = (int64_t)(uint32_t)lane_value(w, in, 2, L);
        uint64_t token = mb_arrive(w, in, word, count, in->cmp == MB_ARRIVE_DROP, L);
        if (in->o[0].kind == OK_REG)
            ptx_dst(w, in->o[0].reg)[L] = token;
        return;
    }
    }
}

static void x_mbarrier(ptx_warp *w, const ptx_insn *in, uint32_t mask)
{
    for (uint32_t m = mask; m && !w->failed; m &= m - 1)
        mbarrier_lane(w, in, __builtin_ctz(m));
}

/* ---- cp.async.bulk ------------------------------------------------------------------------ */

#define BULK_ALIGN 16u

/* Copies n bytes in 16-byte pieces, each translated (and bounds-checked) on its own. */
static int bulk_copy(ptx_warp *w, const ptx_insn *in, uint64_t dst, uint64_t src, uint64_t n,
                     int L)
{
    if (n % BULK_ALIGN || dst % BULK_ALIGN || src % BULK_ALIGN) {
        ptx_fail(w, in, L, PTX_ERR_MISALIGNED, "bulk copy of %llu bytes from 0x%llx to 0x%llx: "
                 "sizes and addresses must be multiples of 16", (unsigned long long)n,
                 (unsigned long long)src, (unsigned long long)dst);
        return -1;
    }
    for (uint64_t off = 0; off < n; off += BULK_ALIGN) {
        const void *s = ptx_translate(w, in, in->type3, src + off, BULK_ALIGN, L, 0);
        void *d = s ? ptx_translate(w, in, in->space, dst + off, BULK_ALIGN, L, 1) : NULL;
        if (!d)
            return -1;
        memmove(d, s, BULK_ALIGN);
    }
    return 0;
}

static void x_bulk(ptx_warp *w, const ptx_insn *in, uint32_t mask)
{
    if (in->cmp != BULK_COPY)
        return; /* prefetch, commit, wait: nothing is outstanding */
    for (uint32_t m = mask; m && !w->failed; m &= m - 1) {
        int L = __builtin_ctz(m);
        uint64_t n = (uint32_t)lane_value(w, in, 2, L);
        if (bulk_copy(w, in, ptx_operand_addr(w, &in->o[0], L),
                      ptx_operand_addr(w, &in->o[1], L), n, L) < 0)
            return;
        if (in->boolop & AF_MBARRIER) {
            uint64_t *word = mb_word(w, in, &in->o[3], L);
            if (!word || mb_tx(w, in, word, -(int64_t)n, L) < 0)
                return;
        }
    }
}

/* ---- elect.sync --------------------------------------------------------------------------- */

/* The lowest executing lane of membermask is the leader; d gets its lane id in every lane. */
static void x_elect(ptx_warp *w, const ptx_insn *in, uint32_t mask)
{
    ptx_src mm = ptx_get_src(w, in, 1);
    uint32_t members = mask & (uint32_t)mm.p[__builtin_ctz(mask) & mm.m];
    uint32_t leader = members ? (uint32_t)__builtin_ctz(members) : 0;
    uint64_t *d = in->o[0].kind == OK_REG ? ptx_dst(w, in->o[0].reg) : NULL;
    uint64_t *p = in->o[0].nvec ? ptx_dst(w, in->o[0].vec[0]) : NULL;
    PTX_FOR_LANES(mask, {
        if (d)
            d[L] = leader;
        if (p)
            p[L] = members && (uint32_t)L == leader;
    });
}
