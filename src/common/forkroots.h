/*
 * Leak checks in workers forked from a threaded daemon (see forkroots.c).
 */
#ifndef TFUSE_COMMON_FORKROOTS_H
#define TFUSE_COMMON_FORKROOTS_H

/* Once per process, before its first fork; later calls do nothing. A no-op unless the build
 * has AddressSanitizer (whose LeakSanitizer checks every process at exit). */
void tf_forkroots_install(void);

#endif
