/* The cltrain command-line tool: one function per subcommand. Each returns
   the process exit status: 0 success, 1 run-time failure, 2 bad usage or
   bad input (message on stderr naming the flag or file). */
#ifndef CLT_CLI_H
#define CLT_CLI_H

#include "fileio.h" /* clt_json_string */

int clt_cmd_devices(int argc, char **argv);
int clt_cmd_train(int argc, char **argv);
int clt_cmd_predict(int argc, char **argv);
int clt_cmd_gradcheck(int argc, char **argv);

#endif
