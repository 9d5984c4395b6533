/*
 * Preprocessor iteration used to expand calls.def: TF_FOREACH(M, a, b, c) gives M(a) M(b) M(c)
 * and TF_FOREACH_COMMA(M, a, b, c) gives M(a), M(b), M(c). Up to 16 arguments, which covers
 * every driver call we forward (cuLaunchKernel has 11).
 *
 * Each argument of a call in calls.def is written as KIND(...), e.g. IN(size_t, bytesize). A pass
 * defines M(a) as TF_PASTE-style `PFX_##a`, which pastes the prefix onto the kind token, so
 * IN(size_t, n) becomes PFX_IN(size_t, n): the kinds themselves are never defined as macros.
 * Owns nothing else; calls nothing.
 */
#ifndef TFUSE_PROTO_FOREACH_H
#define TFUSE_PROTO_FOREACH_H

#define TF_CAT_(a, b) a##b
#define TF_CAT(a, b) TF_CAT_(a, b)

#define TF_NARGS(...) TF_NARGS_(__VA_ARGS__, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
#define TF_NARGS_(a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, n, ...) n

#define TF_FOREACH(M, ...) TF_CAT(TF_FE_, TF_NARGS(__VA_ARGS__))(M, __VA_ARGS__)
#define TF_FE_1(M, a) M(a)
#define TF_FE_2(M, a, ...) M(a) TF_FE_1(M, __VA_ARGS__)
#define TF_FE_3(M, a, ...) M(a) TF_FE_2(M, __VA_ARGS__)
#define TF_FE_4(M, a, ...) M(a) TF_FE_3(M, __VA_ARGS__)
#define TF_FE_5(M, a, ...) M(a) TF_FE_4(M, __VA_ARGS__)
#define TF_FE_6(M, a, ...) M(a) TF_FE_5(M, __VA_ARGS__)
#define TF_FE_7(M, a, ...) M(a) TF_FE_6(M, __VA_ARGS__)
#define TF_FE_8(M, a, ...) M(a) TF_FE_7(M, __VA_ARGS__)
#define TF_FE_9(M, a, ...) M(a) TF_FE_8(M, __VA_ARGS__)
#define TF_FE_10(M, a, ...) M(a) TF_FE_9(M, __VA_ARGS__)
#define TF_FE_11(M, a, ...) M(a) TF_FE_10(M, __VA_ARGS__)
#define TF_FE_12(M, a, ...) M(a) TF_FE_11(M, __VA_ARGS__)
#define TF_FE_13(M, a, ...) M(a) TF_FE_12(M, __VA_ARGS__)
#define TF_FE_14(M, a, ...) M(a) TF_FE_13(M, __VA_ARGS__)
#define TF_FE_15(M, a, ...) M(a) TF_FE_14(M, __VA_ARGS__)
#define TF_FE_16(M, a, ...) M(a) TF_FE_15(M, __VA_ARGS__)

#define TF_FOREACH_COMMA(M, ...) TF_CAT(TF_FEC_, TF_NARGS(__VA_ARGS__))(M, __VA_ARGS__)
#define TF_FEC_1(M, a) M(a)
#define TF_FEC_2(M, a, ...) M(a), TF_FEC_1(M, __VA_ARGS__)
#define TF_FEC_3(M, a, ...) M(a), TF_FEC_2(M, __VA_ARGS__)
#define TF_FEC_4(M, a, ...) M(a), TF_FEC_3(M, __VA_ARGS__)
#define TF_FEC_5(M, a, ...) M(a), TF_FEC_4(M, __VA_ARGS__)
#define TF_FEC_6(M, a, ...) M(a), TF_FEC_5(M, __VA_ARGS__)
#define TF_FEC_7(M, a, ...) M(a), TF_FEC_6(M, __VA_ARGS__)
#define TF_FEC_8(M, a, ...) M(a), TF_FEC_7(M, __VA_ARGS__)
#define TF_FEC_9(M, a, ...) M(a), TF_FEC_8(M, __VA_ARGS__)
#define TF_FEC_10(M, a, ...) M(a), TF_FEC_9(M, __VA_ARGS__)
#define TF_FEC_11(M, a, ...) M(a), TF_FEC_10(M, __VA_ARGS__)
#define TF_FEC_12(M, a, ...) M(a), TF_FEC_11(M, __VA_ARGS__)
#define TF_FEC_13(M, a, ...) M(a), TF_FEC_12(M, __VA_ARGS__)
#define TF_FEC_14(M, a, ...) M(a), TF_FEC_13(M, __VA_ARGS__)
#define TF_FEC_15(M, a, ...) M(a), TF_FEC_14(M, __VA_ARGS__)
#define TF_FEC_16(M, a, ...) M(a), TF_FEC_15(M, __VA_ARGS__)

#endif
