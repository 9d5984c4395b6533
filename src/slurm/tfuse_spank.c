/*
 * tfuse_spank.so: the Slurm SPANK plugin (docs/slurm.md). Job options --tfuse-vram,
 * --tfuse-compute, --tfuse-compute-limit, --tfuse-qos and --tfuse-gpus (also #SBATCH lines, and
 * TFUSE_VRAM ... in the job's environment) or the count-only GRES tfuse_mem/tfuse_compute give
 * each job step on a node an ephemeral vGPU of the local `tfuse node`: made in slurmstepd
 * before the tasks start (init_post_opt), leased and renewed by a thread while the step runs,
 * deleted when slurmstepd ends the step (exit: also after a cancel, a timeout or killed tasks;
 * the lease covers a slurmstepd that dies). The tasks get our libcuda.so.1 first on
 * LD_LIBRARY_PATH, TFUSE_CONNECT and TFUSE_TOKEN. A step that cannot have its slice fails in
 * each task with the reason on the job's stderr, never waits.
 *
 * plugstack.conf arguments: api=ADDR (unix:/run/tfuse/api.sock), token_file=PATH, ca_file=PATH,
 * stub_dir=DIR (PREFIX/lib/tfuse), lease=SECONDS (30), gres=auto|off (auto).
 *
 * Owns: the plugin's state in one slurmstepd. May call: slice.h, src/cli/ephemeral.h and
 * nodeapi.h (the node's API), src/node/owner.h (the owner format), Slurm's SPANK API and, for
 * the GRES of a step, Slurm's job and step queries (resolved in the Slurm process that loads
 * us: the plugin links no Slurm library).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <slurm/slurm.h>
#include <slurm/spank.h>

#include "ephemeral.h"
#include "nodeapi.h"
#include "owner.h"
#include "vgpus.h"      /* NODE_OWNER_MAX */
#include "slice.h"
#include "slurm_args.h"

SPANK_PLUGIN(tfuse, 1);

static struct slurm_args args;
static char opt_value[SLICE_NOPTS][64];
static char failure[1024];      /* why this step has no slice: told by every task */
static struct eph_set set;      /* this step's vGPUs on this node */

/* Says why this step has no slice (every task repeats it). */
static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(failure, sizeof failure, fmt, ap);
    va_end(ap);
}

static struct {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int running, stop;
} renewer = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static int option_cb(int val, const char *optarg, int remote)
{
    char err[256];
    if (val < 0 || val >= SLICE_NOPTS || !optarg ||
        tfsl_opt_check((enum slice_opt)val, optarg, err, sizeof err) != 0) {
        slurm_error("tfuse: %s", val >= 0 && val < SLICE_NOPTS && optarg ? err : "bad option");
        return -1;
    }
    snprintf(opt_value[val], sizeof opt_value[val], "%s", optarg);
    return 0;
}

static struct spank_option options[] = {
    {"tfuse-vram", "SIZE", "device memory of the step's vGPU on each node (256M, 2GiB)", 1,
     SLICE_VRAM, option_cb},
    {"tfuse-compute", "PCT", "guaranteed share of the device (30 or 30%)", 1, SLICE_COMPUTE,
     option_cb},
    {"tfuse-compute-limit", "PCT", "most of the device the step may use (default: the "
     "guaranteed share)", 1, SLICE_LIMIT, option_cb},
    {"tfuse-qos", "CLASS", "low, medium, high or critical", 1, SLICE_QOS, option_cb},
    {"tfuse-gpus", "N", "vGPUs on N distinct devices of each node", 1, SLICE_GPUS, option_cb},
};

int slurm_spank_init(spank_t sp, int ac, char **av)
{
    char err[512];
    spank_context_t ctx = spank_context();
    if (ctx != S_CTX_LOCAL && ctx != S_CTX_REMOTE && ctx != S_CTX_ALLOCATOR)
        return 0;
    for (size_t i = 0; i < sizeof options / sizeof options[0]; i++)
        if (spank_option_register(sp, &options[i]) != ESPANK_SUCCESS) {
            slurm_error("tfuse: cannot register --%s", options[i].name);
            return -1;
        }
    /* Only slurmstepd talks to the node: a login node's users need not read token_file. A bad
     * line fails the steps (their tasks say why), not the node. */
    if (ctx == S_CTX_REMOTE && tfsl_args_parse(&args, ac, av, err, sizeof err) != 0)
        fail("tfuse: plugstack.conf: %s", err);
    return 0;
}

/* The step's name as Slurm prints it: "0", "batch", "interactive". */
static void step_name(uint32_t step, char *out, size_t len)
{
    if (step == SLURM_BATCH_SCRIPT)
        snprintf(out, len, "batch");
    else if (step == SLURM_INTERACTIVE_STEP)
        snprintf(out, len, "interactive");
    else
        snprintf(out, len, "%" PRIu32, step);
}

/* The n-th host (from 0) of a Slurm host list ("tfnode[1-4]"), or "" when there is none. */
static void nth_host(const char *list, uint32_t n, char *out, size_t len)
{
    hostlist_t hl = list ? slurm_hostlist_create(list) : NULL;
    out[0] = '\0';
    for (uint32_t i = 0; hl && i <= n; i++) {
        char *h = slurm_hostlist_shift(hl);
        if (!h)
            break;
        if (i == n)
            snprintf(out, len, "%s", h);
        free(h);
    }
    if (hl)
        slurm_hostlist_destroy(hl);
}

/* The step's own GRES request per node when it made one (srun --gres), and this node's Slurm
 * name (the nodeid-th node of the step). Returns 1 when the request names ours. */
static int step_request(uint32_t job, uint32_t step, uint32_t nodeid, char *node, size_t nlen,
                        char *out, size_t len)
{
    job_step_info_response_msg_t *steps = NULL;
    if (slurm_get_job_steps(0, job, step, &steps, SHOW_ALL) != 0 || !steps)
        return 0;
    for (uint32_t i = 0; i < steps->job_step_count; i++) {
        job_step_info_t *st = &steps->job_steps[i];
        if (st->step_id.step_id != step)
            continue;
        nth_host(st->nodes, nodeid, node, nlen);
        if (st->tres_per_node && strstr(st->tres_per_node, "tfuse_"))
            snprintf(out, len, "%s", st->tres_per_node);
    }
    slurm_free_job_step_info_response_msg(steps);
    return out[0] != '\0';
}

/* The GRES text of this step on this node: the step's own request per node when it made one,
 * else the job's allocation on this node (a batch step runs on the job's batch host). "" when
 * the job has none; -1 with out saying why slurmctld could not tell. */
static int step_gres(uint32_t job, uint32_t step, uint32_t nodeid, char *out, size_t len)
{
    char node[256] = "";
    out[0] = '\0';
    if (step != SLURM_BATCH_SCRIPT &&
        step_request(job, step, nodeid, node, sizeof node, out, len))
        return 0;
    job_info_msg_t *jobs = NULL;
    if (slurm_load_job(&jobs, job, SHOW_DETAIL) != 0 || !jobs || jobs->record_count < 1) {
        snprintf(out, len, "cannot ask slurmctld for job %" PRIu32 ": %s", job,
                 slurm_strerror(slurm_get_errno()));
        return -1;
    }
    slurm_job_info_t *j = &jobs->job_array[0];
    if (step == SLURM_BATCH_SCRIPT && j->batch_host)
        snprintf(node, sizeof node, "%s", j->batch_host);
    hostlist_t hl = j->nodes && node[0] ? slurm_hostlist_create(j->nodes) : NULL;
    int at = hl ? slurm_hostlist_find(hl, node) : -1;
    if (at >= 0 && (uint32_t)at < j->gres_detail_cnt && j->gres_detail_str[at])
        snprintf(out, len, "%s", j->gres_detail_str[at]);
    if (hl)
        slurm_hostlist_destroy(hl);
    slurm_free_job_info_msg(jobs);
    return 0;
}

/* The step's options: given on the command line or #SBATCH, else from the job's environment. */
static void step_options(spank_t sp, struct slice_opts *o)
{
    for (int i = 0; i < SLICE_NOPTS; i++) {
        _Static_assert(sizeof o->v[0] == sizeof opt_value[0], "one size of option value");
        memcpy(o->v[i], opt_value[i], sizeof o->v[i]);   /* option_cb kept it terminated */
        if (!o->v[i][0] && spank_getenv(sp, tfsl_opt_env(i), o->v[i], sizeof o->v[i]) !=
                               ESPANK_SUCCESS)
            o->v[i][0] = '\0';
    }
}

static void *renew_loop(void *arg)
{
    double period = (double)args.lease / 3.0;
    pthread_mutex_lock(&renewer.lock);
    while (!renewer.stop) {
        struct timespec at;
        clock_gettime(CLOCK_REALTIME, &at);
        at.tv_sec += (time_t)period;
        at.tv_nsec += (long)((period - (double)(time_t)period) * 1e9);
        if (at.tv_nsec >= 1000000000L)
            at.tv_sec++, at.tv_nsec -= 1000000000L;
        if (pthread_cond_timedwait(&renewer.cond, &renewer.lock, &at) != ETIMEDOUT)
            continue;
        pthread_mutex_unlock(&renewer.lock);
        int lost = set.lost;
        if (tf_eph_renew(&set) && !lost)
            slurm_error("tfuse: the node no longer has one of this step's vGPUs");
        pthread_mutex_lock(&renewer.lock);
    }
    pthread_mutex_unlock(&renewer.lock);
    return NULL;
}

/* The tasks' environment: our libcuda.so.1 first, where and how to connect, whose slice. */
static int export_env(spank_t sp, const char *slice_tag)
{
    char old[4096] = "", path[4600];
    if (spank_getenv(sp, "LD_LIBRARY_PATH", old, sizeof old) != ESPANK_SUCCESS)
        old[0] = '\0';
    if (tf_eph_library_path(args.stub_dir, old, path, sizeof path) != 0)
        return -1;
    char ids[EPH_MAX_GPUS * EPH_ID_MAX] = "";
    for (int i = 0; i < set.n; i++)
        snprintf(ids + strlen(ids), sizeof ids - strlen(ids), "%s%s", i ? "," : "", set.ids[i]);
    if (spank_setenv(sp, "LD_LIBRARY_PATH", path, 1) != ESPANK_SUCCESS ||
        spank_setenv(sp, "TFUSE_CONNECT", set.connect, 1) != ESPANK_SUCCESS ||
        spank_setenv(sp, "TFUSE_TOKEN", set.tokens, 1) != ESPANK_SUCCESS ||
        spank_setenv(sp, "TFUSE_SLURM_SLICE", slice_tag, 1) != ESPANK_SUCCESS ||
        spank_setenv(sp, "TFUSE_SLURM_VGPUS", ids, 1) != ESPANK_SUCCESS)
        return -1;
    if (args.ca_file[0] && spank_setenv(sp, "TFUSE_CA_FILE", args.ca_file, 1) != ESPANK_SUCCESS)
        return -1;
    return 0;
}

/* Sizes and creates the step's vGPUs; failure (a sentence) when it cannot. */
static void make_slice(spank_t sp, uint32_t job, uint32_t step, uint32_t nodeid,
                       const char *node)
{
    struct slice_opts o;
    struct slice_gres g = {0};
    struct slice s;
    char err[768], gres[1024], sname[16], owner[NODE_OWNER_MAX], id[EPH_ID_MAX], tag[160];
    step_name(step, sname, sizeof sname);
    step_options(sp, &o);
    if (args.gres_auto && step_gres(job, step, nodeid, gres, sizeof gres) != 0) {
        fail("tfuse: step %" PRIu32 ".%s on %s: %s", job, sname,
                 node, gres);
        return;
    }
    if ((args.gres_auto && tfsl_gres_parse(gres, &g, err, sizeof err) != 0) ||
        tfsl_decide(&o, &g, &s, err, sizeof err) != 0) {
        fail("tfuse: step %" PRIu32 ".%s on %s: %s", job, sname,
                 node, err);
        return;
    }
    if (!s.wanted)
        return;
    snprintf(owner, sizeof owner, "%s%" PRIu32 ".%s", NODE_OWNER_SLURM, job, sname);
    snprintf(id, sizeof id, "slurm-%" PRIu32 ".%s", job, sname);
    struct eph_spec spec = {.vram = s.vram, .compute = s.compute[0] ? s.compute : NULL,
                            .limit = s.limit[0] ? s.limit : NULL,
                            .qos = s.qos[0] ? s.qos : NULL, .owner = owner, .id = id,
                            .lease = args.lease, .ngpus = s.gpus};
    int rc = tf_eph_create(args.api, &spec, &set, err, sizeof err);
    if (rc != 0) {
        fail("tfuse: step %" PRIu32 ".%s: the TensorFuse node on "
                 "%s (%s) %s: %s", job, sname, node, args.api,
                 rc == 409 ? "has no room for the slice" : "cannot make the slice", err);
        return;
    }
    snprintf(tag, sizeof tag, "%" PRIu32 "@%s", job, node);
    if (export_env(sp, tag) != 0) {
        fail("tfuse: step %" PRIu32 ".%s: cannot set the tasks' "
                 "environment", job, sname);
        tf_eph_delete(&set, err, sizeof err);
        return;
    }
    renewer.stop = 0;
    renewer.running = pthread_create(&renewer.thread, NULL, renew_loop, NULL) == 0;
    slurm_info("tfuse: step %" PRIu32 ".%s has vGPU %s%s (%s bytes each) on %s", job, sname,
               set.ids[0], set.n > 1 ? " and more" : "", s.vram, node);
}

int slurm_spank_init_post_opt(spank_t sp, int ac, char **av)
{
    if (spank_context() != S_CTX_REMOTE)
        return 0;
    uint32_t job = 0, step = 0, nodeid = 0;
    if (spank_get_item(sp, S_JOB_ID, &job) != ESPANK_SUCCESS ||
        spank_get_item(sp, S_JOB_STEPID, &step) != ESPANK_SUCCESS ||
        spank_get_item(sp, S_JOB_NODEID, &nodeid) != ESPANK_SUCCESS)
        return 0;
    if (step == SLURM_EXTERN_CONT)
        return 0;   /* the job's container, no program of the user's runs there */
    if (failure[0]) {   /* plugstack.conf */
        slurm_error("%s", failure);
        return 0;
    }
    char node[256] = "", tag[300], joined[300] = "";
    if (gethostname(node, sizeof node) != 0)
        snprintf(node, sizeof node, "this node");
    /* A step started inside a batch script on the script's machine joins the vGPU the batch
     * step holds: the job's slice on the machine, not a second one beside it. */
    snprintf(tag, sizeof tag, "%" PRIu32 "@%s", job, node);
    if (step != SLURM_BATCH_SCRIPT &&
        spank_getenv(sp, "TFUSE_SLURM_SLICE", joined, sizeof joined) == ESPANK_SUCCESS &&
        strcmp(joined, tag) == 0)
        return 0;
    make_slice(sp, job, step, nodeid, node);
    if (failure[0])
        slurm_error("%s", failure);
    return 0;   /* the tasks fail with the reason (task_init): a failing step, not a node */
}

int slurm_spank_task_init(spank_t sp, int ac, char **av)
{
    if (!failure[0])
        return 0;
    fprintf(stderr, "%s\n", failure);   /* the task's stderr: the job's output */
    fflush(stderr);
    return -1;
}

int slurm_spank_exit(spank_t sp, int ac, char **av)
{
    if (spank_context() != S_CTX_REMOTE || set.n == 0)
        return 0;
    if (renewer.running) {
        pthread_mutex_lock(&renewer.lock);
        renewer.stop = 1;
        pthread_cond_signal(&renewer.cond);
        pthread_mutex_unlock(&renewer.lock);
        pthread_join(renewer.thread, NULL);
        renewer.running = 0;
    }
    char err[768], first[EPH_ID_MAX];
    snprintf(first, sizeof first, "%s", set.ids[0]);
    if (tf_eph_delete(&set, err, sizeof err) != 0)
        slurm_error("tfuse: %s (its lease ends it)", err);
    else
        slurm_info("tfuse: deleted vGPU %s", first);
    return 0;
}
