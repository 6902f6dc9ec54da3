/* cli.h: the projector's operator subcommands (dlq list|replay, rebuild <model>). */
#ifndef PJ_CLI_H
#define PJ_CLI_H

#include "projector.h"

/* Run the subcommand argv[0..argc) (argc >= 1) with a context whose config, MongoDB client,
 * registry and schema cache are set up (no live consumer). Returns the process exit code:
 * 0 done, 1 failed, 2 usage. */
int pj_cli_main(pj_ctx_t *ctx, int argc, char **argv);

#endif
