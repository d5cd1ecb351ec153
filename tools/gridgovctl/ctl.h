/* The gridgovctl subcommands; each returns the process exit status. argv[0] is the command. */
#ifndef GRIDGOVCTL_CTL_H
#define GRIDGOVCTL_CTL_H

#include "config.h"

int ctl_migrate(const cfg_t *cfg, int argc, char **argv);
int ctl_seed_demo(const cfg_t *cfg, int argc, char **argv);
int ctl_apikey(const cfg_t *cfg, int argc, char **argv);
int ctl_feed(const cfg_t *cfg, int argc, char **argv);
int ctl_token(const cfg_t *cfg, int argc, char **argv);
int ctl_revoke_token(const cfg_t *cfg, int argc, char **argv);
int ctl_events(const cfg_t *cfg, int argc, char **argv);
int ctl_keygen(const cfg_t *cfg, int argc, char **argv);
int ctl_staff(const cfg_t *cfg, int argc, char **argv);
int ctl_messages(const cfg_t *cfg, int argc, char **argv);
int ctl_dead_letters(const cfg_t *cfg, int argc, char **argv);
int ctl_redrive(const cfg_t *cfg, int argc, char **argv);
int ctl_tally(const cfg_t *cfg, int argc, char **argv);
int ctl_tally_slips(const cfg_t *cfg, int argc, char **argv);

#endif
