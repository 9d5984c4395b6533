/*
 * Entry point of `tfuse pool ...` (the pool manager service and its operator commands). The
 * tfuse CLI dispatches `tfuse pool ARGS` here as tfuse_pool_main(argc, argv) with argv[0] the
 * word "pool" (or any program name) and argv[1] the sub-command; build/bin/tfuse-pool calls it
 * the same way. Returns a process exit status.
 */
#ifndef TFUSE_POOL_H
#define TFUSE_POOL_H

int tfuse_pool_main(int argc, char **argv);

#endif
