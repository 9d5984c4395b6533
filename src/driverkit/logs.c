/*
 * The driver's log (see logs.h): a ring of the latest messages, each numbered; an iterator is
 * the number of the next message. Callbacks run in the thread that logs, outside the lock.
 */
#include "logs.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RING 256          /* messages kept, at most DK_LOGS_BYTES of text in all */
#define CALLBACKS 16

struct CUlogsCallbackEntry_st {
    CUlogsCallback fn;
    void *data;
};

static struct {
    pthread_mutex_t lock;
    char *text[RING];
    size_t bytes;                      /* text held */
    unsigned next;                     /* number of the next message */
    unsigned oldest;                   /* number of the oldest message held */
    struct CUlogsCallbackEntry_st callbacks[CALLBACKS];
} logs = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void drop_oldest(void)
{
    char **t = &logs.text[logs.oldest % RING];
    logs.bytes -= *t ? strlen(*t) + 1 : 0;
    free(*t);
    *t = NULL;
    logs.oldest++;
}

void dk_logs_add(CUlogLevel level, const char *message)
{
    char *copy = message ? strdup(message) : NULL;
    struct CUlogsCallbackEntry_st cbs[CALLBACKS];
    pthread_mutex_lock(&logs.lock);
    if (copy) {
        size_t len = strlen(copy) + 1;
        while (logs.oldest != logs.next &&
               (logs.next - logs.oldest >= RING || logs.bytes + len > DK_LOGS_BYTES))
            drop_oldest();
        logs.text[logs.next % RING] = copy;
        logs.bytes += len;
        logs.next++;
    }
    memcpy(cbs, logs.callbacks, sizeof cbs);
    pthread_mutex_unlock(&logs.lock);
    for (int i = 0; copy && i < CALLBACKS; i++)
        if (cbs[i].fn) {
            char *m = strdup(copy);   /* the callback may write into its copy */
            if (m)
                cbs[i].fn(cbs[i].data, level, m, strlen(m));
            free(m);
        }
}

CUresult CUDAAPI cuLogsRegisterCallback(CUlogsCallback callbackFunc, void *userData,
                                        CUlogsCallbackHandle *callback_out)
{
    if (!callbackFunc || !callback_out)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult r = CUDA_ERROR_OUT_OF_MEMORY;
    pthread_mutex_lock(&logs.lock);
    for (int i = 0; i < CALLBACKS && r != CUDA_SUCCESS; i++)
        if (!logs.callbacks[i].fn) {
            logs.callbacks[i] = (struct CUlogsCallbackEntry_st){callbackFunc, userData};
            *callback_out = &logs.callbacks[i];
            r = CUDA_SUCCESS;
        }
    pthread_mutex_unlock(&logs.lock);
    return r;
}

CUresult CUDAAPI cuLogsUnregisterCallback(CUlogsCallbackHandle callback)
{
    CUresult r = CUDA_ERROR_INVALID_VALUE;
    pthread_mutex_lock(&logs.lock);
    for (int i = 0; i < CALLBACKS; i++)
        if (callback == &logs.callbacks[i] && logs.callbacks[i].fn) {
            logs.callbacks[i].fn = NULL;
            r = CUDA_SUCCESS;
        }
    pthread_mutex_unlock(&logs.lock);
    return r;
}

CUresult CUDAAPI cuLogsCurrent(CUlogIterator *iterator_out, unsigned int flags)
{
    if (!iterator_out || flags)
        return CUDA_ERROR_INVALID_VALUE;
    pthread_mutex_lock(&logs.lock);
    *iterator_out = logs.next;
    pthread_mutex_unlock(&logs.lock);
    return CUDA_SUCCESS;
}

/* The messages from *iterator (all when NULL) as lines, the most recent last, fitting `cap`
 * bytes with a note first when older ones were left out; *iterator moves past them. */
static char *collect(CUlogIterator *iterator, size_t cap, size_t *len)
{
    static const char cut[] = "[earlier messages truncated]\n";
    pthread_mutex_lock(&logs.lock);
    unsigned from = iterator && *iterator > logs.oldest ? *iterator : logs.oldest;
    if (from > logs.next)
        from = logs.next;
    unsigned first = logs.next;
    size_t total = 0;
    while (first > from && total + strlen(logs.text[(first - 1) % RING]) + 1 +
                                   (first - 1 > from ? sizeof cut - 1 : 0) <= cap) {
        first--;
        total += strlen(logs.text[first % RING]) + 1;
    }
    int truncated = first > from || (iterator && *iterator < logs.oldest);
    char *out = malloc(total + sizeof cut);
    *len = 0;
    if (out && truncated && total + sizeof cut - 1 <= cap) {
        memcpy(out, cut, sizeof cut - 1);
        *len = sizeof cut - 1;
    }
    for (unsigned n = first; out && n < logs.next; n++) {
        size_t l = strlen(logs.text[n % RING]);
        memcpy(out + *len, logs.text[n % RING], l);
        out[*len + l] = '\n';
        *len += l + 1;
    }
    if (iterator)
        *iterator = logs.next;
    pthread_mutex_unlock(&logs.lock);
    return out;
}

CUresult CUDAAPI cuLogsDumpToMemory(CUlogIterator *iterator, char *buffer, size_t *size,
                                    unsigned int flags)
{
    if (!buffer || !size || !*size || flags)
        return CUDA_ERROR_INVALID_VALUE;
    size_t len;
    char *text = collect(iterator, *size - 1, &len);
    if (!text)
        return CUDA_ERROR_OUT_OF_MEMORY;
    memcpy(buffer, text, len);
    buffer[len] = '\0';
    *size = len;
    free(text);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuLogsDumpToFile(CUlogIterator *iterator, const char *pathToFile,
                                  unsigned int flags)
{
    if (!pathToFile || flags)
        return CUDA_ERROR_INVALID_VALUE;
    size_t len;
    char *text = collect(iterator, DK_LOGS_BYTES, &len);
    FILE *f = text ? fopen(pathToFile, "a") : NULL;
    CUresult r = !text ? CUDA_ERROR_OUT_OF_MEMORY
                       : f && fwrite(text, 1, len, f) == len ? CUDA_SUCCESS
                                                             : CUDA_ERROR_INVALID_VALUE;
    if (f && fclose(f) != 0)
        r = CUDA_ERROR_INVALID_VALUE;
    free(text);
    return r;
}
