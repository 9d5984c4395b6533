/*
 * What slice of a node's GPUs one Slurm job step gets: the plugin's options (--tfuse-vram,
 * --tfuse-compute, --tfuse-compute-limit, --tfuse-qos, --tfuse-gpus) and the count-only GRES
 * Slurm allocated on the node (tfuse_mem in MiB, tfuse_compute in percent of one device), turned
 * into the create of ephemeral vGPUs (src/cli/ephemeral.h). No Slurm call here, so that the
 * rules are tested without a cluster (tests/slurm/test_slurm_slice.c).
 *
 * Owns: struct slice_opts, slice_gres, slice. May call: src/vgpu (vgpu_parse.h), libc.
 */
#ifndef TFUSE_SLURM_SLICE_H
#define TFUSE_SLURM_SLICE_H

#include <stddef.h>
#include <stdint.h>

#define SLICE_GRES_MEM "tfuse_mem"          /* MiB of device memory, per node */
#define SLICE_GRES_COMPUTE "tfuse_compute"  /* percent of one device, per node (100 a device) */
#define SLICE_MAX_GPUS 16

enum slice_opt { SLICE_VRAM, SLICE_COMPUTE, SLICE_LIMIT, SLICE_QOS, SLICE_GPUS, SLICE_NOPTS };

/* The options of a step as given ("" when not). */
struct slice_opts {
    char v[SLICE_NOPTS][64];
};

/* The GRES Slurm allocated on this node (have_*: the job asked for it). */
struct slice_gres {
    int have_mem, have_compute;
    uint64_t mem_mib;
    uint64_t compute_pct;
};

/* The vGPUs to create: one per GPU, each of these (strings the node takes). */
struct slice {
    int wanted;          /* 0: the step asked for nothing of ours */
    int gpus;
    char vram[32];       /* per vGPU, "268435456" (bytes) */
    char compute[32];    /* "30%" or "" (unlimited) */
    char limit[32];      /* "" (the request) */
    char qos[64];        /* "" (medium) */
};

/* The option's name without "--tfuse-" ("vram") and the environment variable that sets it when
 * the option is not given (TFUSE_VRAM). */
const char *tfsl_opt_name(enum slice_opt o);
const char *tfsl_opt_env(enum slice_opt o);

/* Checks one option's value as the user typed it: 0, or -1 with a sentence in err. A bare
 * number of --tfuse-compute(-limit) is a percent; "30%" and "0.3" are too. */
int tfsl_opt_check(enum slice_opt o, const char *value, char *err, size_t errlen);

/*
 * Reads the counts of tfuse_mem and tfuse_compute from Slurm's text of one node's GRES, in
 * either form Slurm writes: the allocation's detail ("tfuse_mem(CNT:256),tfuse_compute(CNT:30)",
 * a type may follow the name: "tfuse_mem:x(CNT:256)") or a step's request per node
 * ("gres:tfuse_mem:256,gres/tfuse_compute:30"; K/M/G/T multiply by 1024). Other GRES are
 * ignored. Returns 0, or -1 with err for a count that does not parse.
 */
int tfsl_gres_parse(const char *text, struct slice_gres *g, char *err, size_t errlen);

/*
 * The slice from the options and the GRES: an option sizes the vGPU and must fit in what Slurm
 * allocated (when the job asked through --gres); without the option the GRES sizes it, divided
 * among --tfuse-gpus. Returns 0 (out->wanted 0 when neither asks anything), or -1 with err.
 */
int tfsl_decide(const struct slice_opts *o, const struct slice_gres *g, struct slice *out,
                char *err, size_t errlen);

#endif
