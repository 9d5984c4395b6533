/*
 * The owner string of a vGPU made for a Slurm job step: "slurm:JOB.STEP" (the SPANK plugin,
 * src/slurm, writes it; the node lists the two ids as "slurm_job"/"slurm_step" and its metrics
 * carry them as labels). One place for the format, header-only so the plugin needs no node
 * library. May call: libc.
 */
#ifndef TFUSE_NODE_OWNER_H
#define TFUSE_NODE_OWNER_H

#include <stdio.h>
#include <string.h>

#define NODE_OWNER_SLURM "slurm:"

/* Splits a Slurm owner into its job id (digits, "_" for an array task) and step ("0",
 * "batch", "extern", "interactive"). Returns 1 when owner is one, else 0 and leaves both empty. */
static inline int node_owner_slurm(const char *owner, char *job, size_t joblen, char *step,
                                   size_t steplen)
{
    job[0] = step[0] = '\0';
    if (strncmp(owner, NODE_OWNER_SLURM, sizeof NODE_OWNER_SLURM - 1) != 0)
        return 0;
    const char *j = owner + sizeof NODE_OWNER_SLURM - 1, *dot = strchr(j, '.');
    if (!dot || dot == j || !dot[1] || (size_t)(dot - j) >= joblen)
        return 0;
    for (const char *p = j; *p; p++)   /* label-safe: no quote, backslash or control byte */
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || *p == '_' || *p == '.'))
            return 0;
    snprintf(job, joblen, "%.*s", (int)(dot - j), j);
    snprintf(step, steplen, "%s", dot + 1);
    return 1;
}

#endif
