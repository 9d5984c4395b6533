/* TensorFuse version and wire-protocol version: what a client and a node compare at handshake. */
#ifndef TFUSE_VERSION_H
#define TFUSE_VERSION_H

#define TFUSE_VERSION_MAJOR 0
#define TFUSE_VERSION_MINOR 1
#define TFUSE_VERSION_PATCH 0
#define TFUSE_VERSION_STRING "0.1.0"

#endif
