/*
 * The node daemon's session server: listens on unix and tcp addresses, gives each accepted
 * connection a worker process of its own, forked for it or warm (warm.h: started before it, used
 * once) (docs/design.md: a tenant's crash or sticky error stays in
 * its own process, and its memory goes when the process exits), reaps them, and
 * keeps the module image cache folder. Workers die with the node (PR_SET_PDEATHSIG), so a
 * client of a dead node fails promptly instead of talking to an orphan.
 *
 * Owns: the accept loop and worker processes. May call: src/transport, src/worker,
 * src/backend (resolving the library name), src/common.
 */
#ifndef TFUSE_NODE_H
#define TFUSE_NODE_H

/* `tfuse node --backend soft|nvidia|PATH --listen ADDR [--listen ADDR...] [--token T]
 * [--state DIR]`. Runs until SIGINT/SIGTERM; returns the process exit status. */
int tfuse_node_main(int argc, char **argv);

#endif
