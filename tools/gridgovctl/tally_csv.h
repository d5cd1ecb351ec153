/* tally_csv: the printable form of a motion's archive (tally_archive.h): UTF-8 with a byte order
 * mark so that Excel and WPS open it as UTF-8, one section after another under Chinese headings:
 *   表决存档 (the motion), 结果 (outcome, turnout, counts), 规则及依据 (each rule applied, its test,
 *   whether it held, the text it cites), 委托名单 (proxies), 监票人 (paper boxes and their tellers),
 *   选票追踪码 (trackers, sorted), 哈希链 (height, type, prev_hash, hash, payload) and the head hash.
 * Text fields go through common/csv.h (quoted, formulas neutralised). */
#ifndef GRIDGOVCTL_TALLY_CSV_H
#define GRIDGOVCTL_TALLY_CSV_H

#include <jansson.h>

#include "buf.h"

void tally_csv_write(const json_t *archive, buf_t *out);

#endif
