/* build/bin/tfuse-pool: the pool manager on its own, for tests and deployments without the
 * tfuse CLI. Calls tfuse_pool_main only. */
#include "tfuse_pool.h"

int main(int argc, char **argv)
{
    return tfuse_pool_main(argc, argv);
}
