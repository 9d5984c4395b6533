/*
 * The subcommands of tfuse-k8s (main.c dispatches). Each returns the process's exit status:
 * 0 done, 1 failed (a message on stderr), 2 bad usage.
 */
#ifndef TFUSE_K8S_CMDS_H
#define TFUSE_K8S_CMDS_H

/* one declaration per subcommand */
int k8s_cmd_device_plugin(int argc, char **argv);   /* dp_main.c */
int k8s_cmd_dra_plugin(int argc, char **argv);     /* dra_main.c */
int k8s_cmd_webhook(int argc, char **argv);    /* webhook.c */
int k8s_cmd_extender(int argc, char **argv);   /* ext_main.c */
int k8s_show_main(int argc, char **argv);     /* show.c */

#endif
