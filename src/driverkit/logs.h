/*
 * The driver's log (cuLogs*, CUDA 12.9) for a driver-shaped library of ours: the library adds
 * what it has to say (dk_logs_add), and logs.c keeps the latest messages in a ring of
 * DK_LOGS_BYTES, calls the program's callbacks, and answers cuLogsCurrent, cuLogsDumpToFile and
 * cuLogsDumpToMemory from the ring as the driver API documents.
 */
#ifndef TFUSE_DRIVERKIT_LOGS_H
#define TFUSE_DRIVERKIT_LOGS_H

#include <cuda.h>

#define DK_LOGS_BYTES 25600   /* the driver's own bound on what it keeps */

void dk_logs_add(CUlogLevel level, const char *message);

#endif
