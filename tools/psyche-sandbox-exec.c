/* psyche-sandbox-exec.c - the helper psyche runs inside its bubblewrap
 * sandbox to add the Landlock inner layer; all of it is in
 * psyche/sandbox_exec.c (psy_sandbox_exec_main). */
#include "../psyche/sandbox.h"

int main(int argc, char **argv) { return psy_sandbox_exec_main(argc, argv); }
