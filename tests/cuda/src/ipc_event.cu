// ipc_event: an event recorded in one process is waited on, queried and synchronized in
// another. The producer queues on a stream: a wait for a flag in device memory
// (cuStreamWaitValue32), a kernel that writes 7 into memory it shares by an IPC handle, and a
// record of an interprocess event. A second process (exec'd) opens both handles, finds the
// event NOT_READY (the producer's stream is held), makes a stream of its own wait on the event
// (that stream is then NOT_READY too), tells the producer through a pipe to release its stream,
// and copies the shared memory on its stream: it must read the producer's 7. It then records
// the event itself, and the producer synchronizes on that record.
#include <cstring>
#include <sys/wait.h>
#include <unistd.h>
#include <cuda.h>
#include "check.h"
#include "cu_check.h"
#include "hex.h"

__global__ void store(int *p, int v) { *p = v; }

static int consume(const char *ev_hex, const char *mem_hex, int tell)
{
    cudaIpcEventHandle_t eh;
    cudaIpcMemHandle_t mh;
    from_hex(ev_hex, &eh, sizeof eh);
    from_hex(mem_hex, &mh, sizeof mh);
    cudaEvent_t ev;
    int *shared;
    CHECK(cudaIpcOpenEventHandle(&ev, eh));
    CHECK(cudaIpcOpenMemHandle((void **)&shared, mh, cudaIpcMemLazyEnablePeerAccess));
    if (cudaEventQuery(ev) != cudaErrorNotReady)
        FAIL("consumer: the event is complete before the producer's stream could run");
    cudaStream_t st;
    CHECK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
    CHECK(cudaStreamWaitEvent(st, ev, 0));
    if (cudaStreamQuery(st) != cudaErrorNotReady)
        FAIL("consumer: its stream is not held by the wait on the producer's event");
    // The producer releases its stream now (a copy to the host may return only once done).
    if (write(tell, "go", 2) != 2)
        FAIL("pipe");
    int *got;
    CHECK(cudaMallocHost(&got, sizeof *got));
    *got = 0;
    CHECK(cudaMemcpyAsync(got, shared, sizeof *got, cudaMemcpyDeviceToHost, st));
    CHECK(cudaStreamSynchronize(st));
    if (*got != 7)
        FAIL("consumer: read %d behind the event, expected the producer's 7", *got);
    CHECK(cudaEventSynchronize(ev));
    CHECK(cudaEventQuery(ev));
    // a record here is seen there
    CHECK(cudaMemcpyAsync(shared, got, sizeof *got, cudaMemcpyHostToDevice, st));
    CHECK(cudaEventRecord(ev, st));
    CHECK(cudaStreamSynchronize(st));
    CHECK(cudaIpcCloseMemHandle(shared));
    CHECK(cudaEventDestroy(ev));
    CHECK(cudaStreamDestroy(st));
    CHECK(cudaFreeHost(got));
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 5 && !strcmp(argv[1], "consume"))
        return consume(argv[2], argv[3], atoi(argv[4]));
    int *flag, *shared;
    CHECK(cudaMalloc(&flag, sizeof(int)));
    CHECK(cudaMalloc(&shared, sizeof(int)));
    CHECK(cudaMemset(flag, 0, sizeof(int)));
    CHECK(cudaMemset(shared, 0, sizeof(int)));
    cudaIpcMemHandle_t mh;   // before the stream is held: exporting memory synchronizes
    CHECK(cudaIpcGetMemHandle(&mh, shared));
    cudaEvent_t ev;
    CHECK(cudaEventCreateWithFlags(&ev, cudaEventInterprocess | cudaEventDisableTiming));
    cudaStream_t st, side;
    CHECK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
    CHECK(cudaStreamCreateWithFlags(&side, cudaStreamNonBlocking));
    CU(cuStreamWaitValue32((CUstream)st, (CUdeviceptr)flag, 1, CU_STREAM_WAIT_VALUE_GEQ));
    store<<<1, 1, 0, st>>>(shared, 7);
    CHECK_LAUNCH();
    CHECK(cudaEventRecord(ev, st));
    cudaIpcEventHandle_t eh;
    CHECK(cudaIpcGetEventHandle(&eh, ev));
    char ev_hex[2 * sizeof eh + 1], mem_hex[2 * sizeof mh + 1], tell[16];
    to_hex(&eh, sizeof eh, ev_hex);
    to_hex(&mh, sizeof mh, mem_hex);
    int pipefd[2];
    if (pipe(pipefd) != 0)
        FAIL("pipe");
    snprintf(tell, sizeof tell, "%d", pipefd[1]);
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        close(pipefd[0]);
        execl("/proc/self/exe", argv[0], "consume", ev_hex, mem_hex, tell, (char *)NULL);
        _exit(127);
    }
    close(pipefd[1]);
    char buf[2];
    if (read(pipefd[0], buf, 2) != 2)
        FAIL("the consumer did not get to its wait");
    if (cudaEventQuery(ev) != cudaErrorNotReady)
        FAIL("producer: the event completed while its stream was held");
    CHECK(cudaMemsetAsync(flag, 1, 1, side));   // the flag's low byte: 1
    CHECK(cudaStreamSynchronize(side));
    int status = 0;
    if (child < 0 || waitpid(child, &status, 0) != child || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0)
        FAIL("the consumer failed (status %d)", status);
    CHECK(cudaEventSynchronize(ev));   // the consumer's record, complete before it exited
    CHECK(cudaStreamSynchronize(st));
    CHECK(cudaEventDestroy(ev));
    CHECK(cudaFree(flag));
    CHECK(cudaFree(shared));
    printf("ipc_event: OK a record waited for, queried and synchronized in another process\n");
    return 0;
}
