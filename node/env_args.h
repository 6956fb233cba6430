/*  env_args.h: foundry-node honours the FOUNDRY_* variables foundryctl
 *  reads (FOUNDRY_ENDPOINT, FOUNDRY_KEY, FOUNDRY_BROKER_KEY), and the same
 *  `--endpoint host:port` shorthand for tcp://host:port. The variables
 *  become flags placed before the command line's own, so the order is:
 *  defaults, then --config, then the variables, then the flags.
 */
#ifndef FDY_ENV_ARGS_H_INCLUDED
#define FDY_ENV_ARGS_H_INCLUDED

/* Returns a new argv (NULL-ended; *argc_out its length): argv[0], a flag
 * for each FOUNDRY_* variable set and non-empty, then argv[1..], with
 * every endpoint value lacking "://" given a "tcp://" prefix. Caller frees
 * with fdy_env_args_free(). NULL when out of memory. */
char **fdy_env_args_build(int argc, char **argv, int *argc_out);
void fdy_env_args_free(char **args, int argc);

#endif
