/* tally_csv: see tally_csv.h. Rows end in CRLF (RFC 4180); an empty row separates sections. */
#include "tally_csv.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"

static const char BOM[] = "\xEF\xBB\xBF";

static const char *str_of(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static void end_row(buf_t *b) { buf_puts(b, "\r\n"); }

/* One row of text fields. */
static void row_of(buf_t *b, const char *const *fields)
{
    for (size_t i = 0; fields[i]; i++) {
        if (i)
            buf_putc(b, ',');
        csv_field(b, fields[i]);
    }
    end_row(b);
}
#define row(b, ...) row_of((b), (const char *const[]){__VA_ARGS__})

/* A JSON value as a field: texts as they are, the rest as compact JSON. */
static void value_field(buf_t *b, const json_t *v)
{
    if (json_is_string(v)) {
        csv_field(b, json_string_value(v));
        return;
    }
    if (!v || json_is_null(v))
        return;
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    csv_field(b, s ? s : "");
    free(s);
}

static void label_value(buf_t *b, const char *label, const json_t *v)
{
    csv_field(b, label);
    buf_putc(b, ',');
    value_field(b, v);
    end_row(b);
}

static const char *zh(const char *const table[][2], const char *key)
{
    for (size_t i = 0; table[i][0]; i++)
        if (!strcmp(table[i][0], key))
            return table[i][1];
    return key;
}

static const char *const KINDS[][2] = {{"resolution", "决议"}, {"election", "选举"}, {"evaluation", "评议"},
                                       {"selection", "推选"}, {NULL, NULL}};
static const char *const OUTCOMES[][2] = {
    {"adopted", "通过"},         {"rejected", "未通过"},       {"no_quorum", "不足法定人数"},
    {"elected", "当选"},         {"partly_elected", "部分当选，另行选举"}, {"tie", "票数相等，重新投票"},
    {"invalid_round", "选举无效"}, {"void", "选票多于投票人数，选举无效"}, {"evaluated", "已评议"},
    {NULL, NULL}};
static const char *const STATES[][2] = {{"draft", "草稿"}, {"open", "投票中"}, {"closed", "已结束"}, {NULL, NULL}};

static void motion_section(buf_t *b, const json_t *m)
{
    row(b, "表决存档", str_of(m, "code"), NULL);
    label_value(b, "标题", json_object_get(m, "title"));
    label_value(b, "内容", json_object_get(m, "body"));
    csv_field(b, "村民小组");
    buf_putc(b, ',');
    buf_t g = BUF_INIT;
    buf_printf(&g, "%s（%s）", str_of(m, "group_name"), str_of(m, "group_code"));
    csv_field(b, buf_str(&g));
    buf_free(&g);
    end_row(b);
    row(b, "类别", zh(KINDS, str_of(m, "kind")), NULL);
    row(b, "投票方式", !strcmp(str_of(m, "electorate"), "household") ? "一户一票" : "一人一票", NULL);
    row(b, "状态", zh(STATES, str_of(m, "state")), NULL);
    label_value(b, "规则集", json_object_get(m, "rule_set"));
    label_value(b, "规则集SHA-256", json_object_get(m, "rules_sha256"));
    label_value(b, "开始投票", json_object_get(m, "opened_at"));
    label_value(b, "截止时间", json_object_get(m, "closes_at"));
    label_value(b, "结束时间", json_object_get(m, "closed_at"));
    label_value(b, "选民名单人数", json_object_get(m, "roll_count"));
    label_value(b, "另行选举自", json_object_get(m, "runoff_of"));
}

/* The counts with the ballot's names beside them. */
static void counts_rows(buf_t *b, const char *kind, const json_t *ballot, const json_t *counts)
{
    size_t i;
    json_t *v;
    if (!strcmp(kind, "resolution")) {
        static const char *const DEFAULT[] = {"同意", "不同意", "弃权"};
        row(b, "选项", "票数", NULL);
        json_array_foreach(json_object_get(counts, "options"), i, v)
        {
            const char *name = json_string_value(json_array_get(json_object_get(ballot, "choices"), i));
            csv_field(b, name ? name : i < 3 ? DEFAULT[i] : "?");
            buf_printf(b, ",%lld", (long long)json_integer_value(v));
            end_row(b);
        }
    } else if (!strcmp(kind, "election")) {
        row(b, "候选人", "得票", NULL);
        json_array_foreach(json_object_get(counts, "candidates"), i, v)
        {
            csv_field(b, str_of(json_array_get(json_object_get(ballot, "candidates"), i), "name"));
            buf_printf(b, ",%lld", (long long)json_integer_value(v));
            end_row(b);
        }
        const char *name;
        json_object_foreach(json_object_get(counts, "write_ins"), name, v)
        {
            buf_t n = BUF_INIT;
            buf_printf(&n, "%s（另选他人）", name);
            csv_field(b, buf_str(&n));
            buf_free(&n);
            buf_printf(b, ",%lld", (long long)json_integer_value(v));
            end_row(b);
        }
        buf_printf(b, "%s,%lld", "空白票", (long long)json_integer_value(json_object_get(counts, "blank")));
        end_row(b);
    } else {
        bool eval = !strcmp(kind, "evaluation");
        const json_t *names = json_object_get(ballot, eval ? "subjects" : "nominees");
        bool comp = eval && !strcmp(str_of(ballot, "scale"), "competence");
        if (eval && comp)
            row(b, "评议对象", "称职", "基本称职", "不称职", "弃权", NULL);
        else if (eval)
            row(b, "评议对象", "满意", "基本满意", "不满意", "弃权", NULL);
        else
            row(b, "被推选户", "同意", "不同意", "弃权", NULL);
        json_array_foreach(json_object_get(counts, eval ? "subjects" : "nominees"), i, v)
        {
            csv_field(b, str_of(json_array_get(names, i), "name"));
            size_t k;
            json_t *c;
            json_array_foreach(v, k, c) buf_printf(b, ",%lld", (long long)json_integer_value(c));
            end_row(b);
        }
    }
}

static void result_section(buf_t *b, const json_t *m, const json_t *res)
{
    row(b, "结果", NULL);
    if (!json_is_object(res)) {
        row(b, "尚未结束", NULL);
        return;
    }
    row(b, "结论", zh(OUTCOMES, str_of(res, "outcome")), NULL);
    static const char *const NUMS[][2] = {{"roll", "选民名单人数"}, {"voters", "参加投票人数"}, {"ballots", "收回选票"},
                                          {"valid", "有效票"},      {"invalid", "无效票"},      {NULL, NULL}};
    for (size_t i = 0; NUMS[i][0]; i++)
        if (json_object_get(res, NUMS[i][0]))
            label_value(b, NUMS[i][1], json_object_get(res, NUMS[i][0]));
    const json_t *t = json_object_get(res, "turnout");
    if (t) {
        buf_printf(b, "参加率,%lld‰", (long long)json_integer_value(json_object_get(t, "permille")));
        end_row(b);
    }
    counts_rows(b, str_of(m, "kind"), json_object_get(m, "ballot"), json_object_get(res, "counts"));
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(res, "elected"), i, v)
    {
        buf_puts(b, "当选,");
        csv_field(b, str_of(v, "name"));
        buf_printf(b, ",%lld", (long long)json_integer_value(json_object_get(v, "votes")));
        end_row(b);
    }
    json_array_foreach(json_object_get(json_object_get(res, "runoff"), "candidates"), i, v)
    {
        buf_puts(b, "另行选举候选人,");
        csv_field(b, str_of(v, "name"));
        buf_printf(b, ",%lld", (long long)json_integer_value(json_object_get(v, "votes")));
        end_row(b);
    }
    json_array_foreach(json_object_get(res, "subjects"), i, v)
    {
        static const char *const VERDICTS[][2] = {{"excellent", "优秀"}, {"fit", "合格"}, {"unfit", "不合格"}, {NULL, NULL}};
        buf_puts(b, "评议结论,");
        csv_field(b, str_of(v, "name"));
        buf_putc(b, ',');
        csv_field(b, zh(VERDICTS, str_of(v, "verdict")));
        if (json_object_get(v, "flag"))
            buf_puts(b, ",连续两年不称职");
        end_row(b);
    }
    json_array_foreach(json_object_get(res, "nominees"), i, v)
    {
        buf_puts(b, "推选结论,");
        csv_field(b, str_of(v, "name"));
        buf_puts(b, json_is_true(json_object_get(v, "adopted")) ? ",通过" : ",未通过");
        end_row(b);
    }
}

static void rules_section(buf_t *b, const json_t *rules)
{
    row(b, "规则及依据", NULL);
    row(b, "规则集", str_of(rules, "rule_set"), NULL);
    row(b, "规则集SHA-256", str_of(rules, "rules_sha256"), NULL);
    row(b, "规则", "算式", "是否满足", "依据", NULL);
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(rules, "applied"), i, v)
    {
        row(b, str_of(v, "rule"), str_of(v, "test"), json_is_true(json_object_get(v, "met")) ? "满足" : "不满足",
            str_of(v, "cite"), NULL);
    }
}

static void proxies_section(buf_t *b, const json_t *proxies)
{
    row(b, "委托名单", NULL);
    row(b, "委托人编号", "委托人", "受委托人编号", "受委托人", NULL);
    size_t i;
    json_t *v;
    json_array_foreach(proxies, i, v)
    {
        buf_printf(b, "%lld,", (long long)json_integer_value(json_object_get(v, "principal")));
        value_field(b, json_object_get(v, "principal_name"));
        buf_printf(b, ",%lld,", (long long)json_integer_value(json_object_get(v, "holder")));
        value_field(b, json_object_get(v, "holder_name"));
        end_row(b);
    }
}

static void tellers_section(buf_t *b, const json_t *boxes)
{
    row(b, "监票人", NULL);
    row(b, "票箱", "监票人", "选票", "无效票", "计票", "录入人", "录入时间", NULL);
    size_t i;
    json_t *v;
    json_array_foreach(boxes, i, v)
    {
        csv_field(b, str_of(v, "box"));
        buf_putc(b, ',');
        buf_t t = BUF_INIT;
        size_t k;
        json_t *n;
        json_array_foreach(json_object_get(v, "tellers"), k, n) buf_printf(&t, "%s%s", k ? "、" : "", json_string_value(n));
        csv_field(b, buf_str(&t));
        buf_free(&t);
        buf_printf(b, ",%lld,%lld,", (long long)json_integer_value(json_object_get(v, "ballots")),
                   (long long)json_integer_value(json_object_get(v, "invalid")));
        value_field(b, json_object_get(v, "counts"));
        buf_printf(b, ",%lld,", (long long)json_integer_value(json_object_get(v, "entered_by")));
        value_field(b, json_object_get(v, "entered_at"));
        end_row(b);
    }
}

static void trackers_section(buf_t *b, const json_t *trackers)
{
    row(b, "选票追踪码", NULL);
    size_t i;
    json_t *v;
    json_array_foreach(trackers, i, v) row(b, json_string_value(v), NULL);
}

static void chain_section(buf_t *b, const json_t *chain, const json_t *head)
{
    row(b, "哈希链", NULL);
    row(b, "高度", "类型", "前一哈希", "哈希", "内容", NULL);
    size_t i;
    json_t *v;
    json_array_foreach(chain, i, v)
    {
        buf_printf(b, "%lld,", (long long)json_integer_value(json_object_get(v, "height")));
        row(b, str_of(v, "type"), str_of(v, "prev_hash"), str_of(v, "hash"), str_of(v, "payload"), NULL);
    }
    label_value(b, "链头哈希", head);
}

void tally_csv_write(const json_t *ar, buf_t *out)
{
    const json_t *m = json_object_get(ar, "motion");
    buf_puts(out, BOM);
    motion_section(out, m);
    end_row(out);
    result_section(out, m, json_object_get(ar, "result"));
    end_row(out);
    rules_section(out, json_object_get(ar, "rules"));
    end_row(out);
    proxies_section(out, json_object_get(ar, "proxies"));
    end_row(out);
    tellers_section(out, json_object_get(ar, "paper_boxes"));
    end_row(out);
    trackers_section(out, json_object_get(ar, "trackers"));
    end_row(out);
    chain_section(out, json_object_get(ar, "chain"), json_object_get(ar, "head_hash"));
}
