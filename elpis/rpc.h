/* rpc.h - llama.cpp's RPC backend for elpis ([model] rpc_servers): layers
 * offloaded to rpc-server processes. See rpc.c. */
#ifndef ELPIS_RPC_H
#define ELPIS_RPC_H

#include <stddef.h>
#include <stdio.h>

/* Registers each "host:port" with ggml before the model loads. Returns 0,
 * -ENOTSUP (this build has no RPC backend) or -EHOSTUNREACH (a server does
 * not answer), with a message in err. */
int elpis_rpc_add(char *const *servers, size_t n, char *err, size_t errlen);

/* --doctor: each registered server's memory and its share of the layers
 * (gpu_layers < 0 = all). */
void elpis_rpc_report(char *const *servers, size_t n, int n_layer, int gpu_layers, FILE *out);

#endif
