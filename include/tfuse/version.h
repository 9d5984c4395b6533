/* TensorFuse's release version, which a node reports and the handshake quotes in its errors.
 * The wire-protocol version the two sides compare is TFUSE_PROTOCOL_VERSION
 * (src/transport/transport.h). */
#ifndef TFUSE_VERSION_H
#define TFUSE_VERSION_H

#define TFUSE_VERSION_MAJOR 0
#define TFUSE_VERSION_MINOR 1
#define TFUSE_VERSION_PATCH 0
#define TFUSE_VERSION_STRING "0.1.0"

#endif
