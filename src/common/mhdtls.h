/*
 * HTTPS for the libmicrohttpd servers (the node's API, the pool's API): the options that make
 * a daemon speak TLS with a PEM certificate chain and key (src/common/pemfile.h reads them).
 * Header-only so that tfuse_common and tfuse_httpc need no libmicrohttpd. May call:
 * libmicrohttpd.
 */
#ifndef TFUSE_COMMON_MHDTLS_H
#define TFUSE_COMMON_MHDTLS_H

#include <microhttpd.h>
#include <stdio.h>

/* 0 when this libmicrohttpd can serve https; else -1 with the reason in err. */
static inline int tf_mhd_tls_check(char *err, size_t errlen)
{
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) == MHD_YES)
        return 0;
    snprintf(err, errlen, "this libmicrohttpd was built without TLS: cannot serve https");
    return -1;
}

/* Fills opt[0..2] (cert, key, end) for MHD_OPTION_ARRAY and returns the daemon flag to add.
 * The PEM text must stay alive until MHD_start_daemon returns (GnuTLS copies it then). */
static inline unsigned tf_mhd_tls_options(struct MHD_OptionItem opt[3], const char *cert,
                                          const char *key)
{
    opt[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)cert};
    opt[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)key};
    opt[2] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    return MHD_USE_TLS;
}

#endif
