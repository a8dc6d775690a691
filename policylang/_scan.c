/*
 * policylang._scan: a reader of section 10 documents straight into the evaluator's columns.
 *
 * Why it exists: decide_json's typed path (msgspec structs, then columns made from them)
 * makes one Python object per ledger line before it makes the columns, and that alone costs
 * more than issue 11's target allows (4x faster than regorus). This reader walks the JSON
 * text once and appends each field to its column as it goes: no object per line.
 *
 * Why it may refuse anything: it is only a shortcut. It accepts a strict subset of what the
 * typed path accepts (no backslash escape, only the known keys and each at most once, the
 * instant form YYYY-MM-DDTHH:MM:SS[.f{1,6}](Z|+HH:MM|-HH:MM) with local years 1901..2998,
 * names the policy declares, null only where the typed path allows it) and returns None for
 * everything else; ingest.py then runs the typed path and, failing that, the validating path,
 * which decides or gives the positioned error. Returning None is always safe; accepting
 * something the other paths would read differently is the one thing this file must never do.
 *
 * Every read is checked against the end of the text (the reader never assumes a terminator),
 * and every object it makes is owned by exactly one place until it is handed over or freed.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* The local years an instant may name: records.FIRST_YEAR + 1 .. LAST_YEAR - 1, as the
 * typed path's readers take them (an offset of under a day then never leaves the years the
 * validating path handles). ingest.py checks YEARS against records before using this module. */
#define FIRST_LOCAL_YEAR 1901
#define LAST_LOCAL_YEAR 2998
/* Arrays and objects inside the customer record: the validating path allows 64 in all; a
 * lower bound here only sends deeper records to it. */
#define MAX_DEPTH 32

typedef struct {
    const unsigned char *p;   /* the next byte to read */
    const unsigned char *end; /* one past the last byte */
} Reader;

/* A refusal: the caller returns None and the other paths take the document. */
#define REFUSE (-1)

static void
blank(Reader *r)
{
    /* JSON's whitespace is exactly these four (no form feed, no vertical tab, no NBSP) */
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\n' || *r->p == '\r' || *r->p == '\t'))
        r->p++;
}

/* Consume byte c (after whitespace), or refuse. */
static int
expect(Reader *r, unsigned char c)
{
    blank(r);
    if (r->p >= r->end || *r->p != c)
        return REFUSE;
    r->p++;
    return 0;
}

/* The next byte after whitespace, or -1 at the end. */
static int
peek(Reader *r)
{
    blank(r);
    return r->p < r->end ? *r->p : -1;
}

/* After a member or element: 0 for a comma (more follow), 1 for the closing bracket, REFUSE
 * for anything else (the reader never moves past the end). */
static int
separator(Reader *r, unsigned char close)
{
    int next = peek(r);
    if (next != ',' && next != close)
        return REFUSE;
    r->p++;
    return next == close;
}

/* Bytes 0x80.. must form well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates,
 * nothing past U+10FFFF): a document given as bytes is refused otherwise, as the typed path
 * refuses it. Returns the sequence's length, or REFUSE. */
static int
utf8_sequence(const unsigned char *s, const unsigned char *end)
{
    unsigned char c = s[0];
    int n;
    unsigned char lo = 0x80, hi = 0xBF; /* the range of the second byte */
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0; /* overlong below */
        if (c == 0xED)
            hi = 0x9F; /* surrogates above */
    }
    else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;
        if (c == 0xF4)
            hi = 0x8F; /* past U+10FFFF */
    }
    else
        return REFUSE;
    if (end - s < n || s[1] < lo || s[1] > hi)
        return REFUSE;
    for (int k = 2; k < n; k++)
        if (s[k] < 0x80 || s[k] > 0xBF)
            return REFUSE;
    return n;
}

/* The bytes a string holds as they are: printable ASCII but the quote and the backslash (filled
 * by the module's init). The string loop is most of the reader's time (a ledger is mostly
 * strings): a table look-up per byte from a local pointer was faster than comparing each byte
 * with the stops (measured; eight bytes at a time in a 64-bit word was slower still, the
 * strings being short), and SSE2 faster again (below). */
static unsigned char PLAIN[256];

/* A string token: *start and *size get its content (between the quotes). No backslash (an
 * escape could spell a key or a name two ways) and no raw control character (not JSON). */
static int
string(Reader *r, const unsigned char **start, Py_ssize_t *size)
{
    if (expect(r, '"'))
        return REFUSE;
    const unsigned char *p = r->p, *end = r->end;
    for (;;) {
#if defined(__SSE2__)
        /* sixteen bytes at a time where the processor has SSE2 (every x86-64): the first stop
         * is the first quote, backslash or byte below 0x20 or from 0x80 (a signed comparison) */
        while (end - p >= 16) {
            __m128i chunk = _mm_loadu_si128((const __m128i *)p);
            __m128i stops = _mm_or_si128(
                _mm_or_si128(_mm_cmpeq_epi8(chunk, _mm_set1_epi8('"')), _mm_cmpeq_epi8(chunk, _mm_set1_epi8('\\'))),
                _mm_cmplt_epi8(chunk, _mm_set1_epi8(0x20)));
            int mask = _mm_movemask_epi8(stops);
            if (mask) {
                p += __builtin_ctz((unsigned)mask);
                break;
            }
            p += 16;
        }
#endif
        while (end - p >= 4 && (PLAIN[p[0]] & PLAIN[p[1]] & PLAIN[p[2]] & PLAIN[p[3]]))
            p += 4;
        while (p < end && PLAIN[*p])
            p++;
        if (p >= end)
            return REFUSE; /* the text ends inside the string */
        if (*p == '"') {
            *start = r->p;
            *size = p - r->p;
            r->p = p + 1;
            return 0;
        }
        if (*p < 0x80)
            return REFUSE; /* a backslash or a control character */
        int n = utf8_sequence(p, end);
        if (n < 0)
            return REFUSE;
        p += n;
    }
}

static int
literal(Reader *r, const char *word, Py_ssize_t n)
{
    blank(r);
    if (r->end - r->p < n || memcmp(r->p, word, n) != 0)
        return REFUSE;
    r->p += n;
    return 0;
}

static int
is_digit(const Reader *r)
{
    return r->p < r->end && *r->p >= '0' && *r->p <= '9';
}

/* A number by JSON's grammar exactly: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static int
number(Reader *r)
{
    blank(r);
    if (r->p < r->end && *r->p == '-')
        r->p++;
    if (!is_digit(r))
        return REFUSE;
    if (*r->p++ != '0')
        while (is_digit(r))
            r->p++;
    if (r->p < r->end && *r->p == '.') {
        r->p++;
        if (!is_digit(r))
            return REFUSE;
        while (is_digit(r))
            r->p++;
    }
    if (r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
        r->p++;
        if (r->p < r->end && (*r->p == '+' || *r->p == '-'))
            r->p++;
        if (!is_digit(r))
            return REFUSE;
        while (is_digit(r))
            r->p++;
    }
    return 0;
}

/* Any JSON value, only checked (the customer record: Python parses and validates its bytes). */
static int
skip_value(Reader *r, int depth)
{
    const unsigned char *s;
    Py_ssize_t n;
    int c = peek(r);
    if (c == '"')
        return string(r, &s, &n);
    if (c == '{' || c == '[') {
        if (depth >= MAX_DEPTH)
            return REFUSE;
        unsigned char close = c == '{' ? '}' : ']';
        r->p++;
        if (peek(r) == close) {
            r->p++;
            return 0;
        }
        for (;;) {
            if (c == '{' && (string(r, &s, &n) || expect(r, ':')))
                return REFUSE;
            if (skip_value(r, depth + 1))
                return REFUSE;
            /* (the record's keys, duplicates too, are Python's to check) */
            int next = separator(r, close);
            if (next != 0)
                return next > 0 ? 0 : REFUSE;
        }
    }
    if (c == 't')
        return literal(r, "true", 4);
    if (c == 'f')
        return literal(r, "false", 5);
    if (c == 'n')
        return literal(r, "null", 4);
    return number(r);
}

/* ---- instants ------------------------------------------------------------------------------ */

static int
two_digits(const unsigned char *s, int *out)
{
    if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
        return REFUSE;
    *out = (s[0] - '0') * 10 + (s[1] - '0');
    return 0;
}

static int
leap(int year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

static const int MONTH_DAYS[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

/* Days from 1970-01-01 to a date of the proleptic Gregorian calendar (Howard Hinnant's
 * days_from_civil; the year counted from March, so that February's length comes last). */
static int64_t
days_from_civil(int year, int month, int day)
{
    year -= month <= 2;
    int era = year / 400; /* years here are positive */
    int of_era = year - era * 400;
    int of_year = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
    int of_cycle = of_era * 365 + of_era / 4 - of_era / 100 + of_year;
    return (int64_t)era * 146097 + of_cycle - 719468;
}

/* The epoch microseconds of an instant text in the one form taken here (see the top), with
 * a real date and time; what inputs.parse_instant reads it as. */
static int
instant(const unsigned char *s, Py_ssize_t n, int64_t *us)
{
    int hi, lo, month, day, hour, minute, second;
    /* 2026-10-03T10:38:05Z is the shortest form, 2026-10-03T10:38:05.123456+02:00 the longest */
    if (n < 20 || n > 32)
        return REFUSE;
    if (two_digits(s, &hi) || two_digits(s + 2, &lo) || s[4] != '-' || two_digits(s + 5, &month) ||
        s[7] != '-' || two_digits(s + 8, &day) || s[10] != 'T' || two_digits(s + 11, &hour) || s[13] != ':' ||
        two_digits(s + 14, &minute) || s[16] != ':' || two_digits(s + 17, &second))
        return REFUSE;
    int year = hi * 100 + lo;
    if (year < FIRST_LOCAL_YEAR || year > LAST_LOCAL_YEAR || month < 1 || month > 12 || day < 1 ||
        hour > 23 || minute > 59 || second > 59)
        return REFUSE;
    if (day > MONTH_DAYS[month - 1] + (month == 2 && leap(year)))
        return REFUSE;
    Py_ssize_t i = 19;
    int64_t fraction = 0;
    if (s[i] == '.') {
        int digits = 0;
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++, digits++) {
            if (digits == 6)
                return REFUSE; /* 7 to 9 digits: the validating path rounds them its own way */
            fraction = fraction * 10 + (s[i] - '0');
        }
        if (digits == 0)
            return REFUSE;
        for (; digits < 6; digits++)
            fraction *= 10;
    }
    int64_t offset = 0; /* seconds east of UTC */
    if (i + 1 == n && s[i] == 'Z') {
    }
    else if (i + 6 == n && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
        int hours, minutes;
        if (two_digits(s + i + 1, &hours) || two_digits(s + i + 4, &minutes) || hours > 23 || minutes > 59)
            return REFUSE;
        offset = (int64_t)(hours * 3600 + minutes * 60) * (s[i] == '+' ? 1 : -1);
    }
    else
        return REFUSE;
    int64_t seconds = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offset;
    *us = seconds * 1000000 + fraction;
    return 0;
}

/* ---- names --------------------------------------------------------------------------------- */

/* A vocabulary as read for one call: the (bytes, str) pairs ingest.py passes, flattened into
 * an array so that a look-up reads no Python object. */
typedef struct {
    const char *bytes;
    Py_ssize_t size;
    PyObject *name; /* borrowed: the caller's vocabulary holds it for the whole call */
} Name;

/* A hash table of the names (open addressing, at least 3/4 of the slots free, so that a search
 * always ends at an empty slot). Why not a linear search: which name a line holds is data,
 * and the branches of a search mispredicted; it took a quarter of the reader's time at 1,000
 * lines (measured). */
typedef struct {
    const Name **slots;
    size_t mask;
} Vocabulary;

static size_t
hash(const unsigned char *s, Py_ssize_t n)
{
    /* the length and three of the bytes, mixed by a multiplication (Fibonacci hashing): few
     * collisions among a policy's names, and a collision only costs a probe */
    uint32_t key = n == 0 ? 0 : (uint32_t)n << 24 ^ (uint32_t)s[0] << 16 ^ (uint32_t)s[n / 2] << 8 ^ s[n - 1];
    return (size_t)((key * 2654435769u) >> 16);
}

/* Whether the n bytes at a and at b are the same: names are mostly 4 to 16 bytes, compared by
 * two overlapping words (inside both texts: a name's bytes, then a quote or a NUL, follow). */
static int
same(const char *a, const unsigned char *b, Py_ssize_t n)
{
    if (n >= 8 && n <= 16) {
        uint64_t a0, a1, b0, b1;
        memcpy(&a0, a, 8);
        memcpy(&b0, b, 8);
        memcpy(&a1, a + n - 8, 8);
        memcpy(&b1, b + n - 8, 8);
        return a0 == b0 && a1 == b1;
    }
    if (n >= 4 && n < 8) {
        uint32_t a0, a1, b0, b1;
        memcpy(&a0, a, 4);
        memcpy(&b0, b, 4);
        memcpy(&a1, a + n - 4, 4);
        memcpy(&b1, b + n - 4, 4);
        return a0 == b0 && a1 == b1;
    }
    return memcmp(a, b, n) == 0;
}

/* The policy's own string for a name, or NULL (no exception set) for a name it does not declare. */
static PyObject *
lookup(const Vocabulary *v, const unsigned char *s, Py_ssize_t n)
{
    for (size_t h = hash(s, n) & v->mask; v->slots[h] != NULL; h = (h + 1) & v->mask) {
        const Name *e = v->slots[h];
        if (e->size == n && same(e->bytes, s, n))
            return e->name;
    }
    return NULL;
}

/* A name the policy declares (a new reference to its own string), or REFUSE. */
static int
name(Reader *r, const Vocabulary *v, PyObject **out)
{
    const unsigned char *s;
    Py_ssize_t n;
    if (string(r, &s, &n))
        return REFUSE;
    PyObject *found = lookup(v, s, n);
    if (found == NULL)
        return REFUSE;
    Py_INCREF(found);
    *out = found;
    return 0;
}

/* A text or null (a new reference to a str, or to None); with keep == 0 only checked.
 * Returns REFUSE, or -2 with an exception set (out of memory). */
static int
text_or_null(Reader *r, PyObject **out, int keep)
{
    const unsigned char *s;
    Py_ssize_t n;
    if (peek(r) == 'n') {
        if (literal(r, "null", 4))
            return REFUSE;
        if (keep) {
            Py_INCREF(Py_None);
            *out = Py_None;
        }
        return 0;
    }
    if (string(r, &s, &n))
        return REFUSE;
    if (keep) {
        *out = PyUnicode_DecodeUTF8((const char *)s, n, NULL); /* valid UTF-8: checked by string() */
        if (*out == NULL)
            return -2;
    }
    return 0;
}

/* ---- the ledger ---------------------------------------------------------------------------- */

/* The fields of a ledger line, by position in a contact's row (before AT). */
enum { CHANNEL, PURPOSE, TEAM, STATUS, OUTCOME, CAMPAIGN, ID, CUSTOMER, ROW, AT = ROW, EVENT };
static const char *const COLUMN_NAMES[ROW] = {"channel", "purpose", "team", "status",
                                              "outcome", "campaign", "id", "customer"};
#define BIT(field) (1u << (field))
#define EVENT_ONLY_REFUSED (BIT(CHANNEL) | BIT(PURPOSE) | BIT(TEAM) | BIT(STATUS) | BIT(OUTCOME) | BIT(CAMPAIGN))

/* The vocabularies, in the order ingest.py passes them. */
enum { V_CHANNELS, V_PURPOSES, V_TEAMS, V_STATUSES, V_OUTCOMES, V_EVENTS, VOCABULARIES };

/* A contact's values (new references; NULL where the line leaves the field out) and instant. */
typedef struct {
    PyObject *field[ROW];
    int64_t us;
} Row;

typedef struct {
    PyObject *name; /* borrowed: the vocabulary holds it for the whole call */
    int64_t us;
} Happened;

typedef struct {
    Row *rows;
    Py_ssize_t size, room;
    Happened *events;
    Py_ssize_t events_size, events_room;
    Py_ssize_t given[ROW]; /* how many contacts give each field */
} Ledger;

static void
ledger_free(Ledger *l)
{
    for (Py_ssize_t k = 0; k < l->size; k++)
        for (int f = 0; f < ROW; f++)
            Py_XDECREF(l->rows[k].field[f]);
    PyMem_Free(l->rows);
    PyMem_Free(l->events);
}

/* Grow an array of items of `width` bytes to hold one more; -2 with MemoryError set. */
static int
grow(void **items, Py_ssize_t size, Py_ssize_t *room, size_t width)
{
    if (size < *room)
        return 0;
    Py_ssize_t more = *room ? *room * 2 : 64;
    if ((size_t)more > PY_SSIZE_T_MAX / width) {
        PyErr_NoMemory();
        return -2;
    }
    void *bigger = PyMem_Realloc(*items, (size_t)more * width);
    if (bigger == NULL) {
        PyErr_NoMemory();
        return -2;
    }
    *items = bigger;
    *room = more;
    return 0;
}

/* Which field a line's key names, or -1. */
/* Whether the key s (n bytes) is the literal word. */
#define IS(word) (n == (Py_ssize_t)sizeof(word) - 1 && memcmp(s, word, sizeof(word) - 1) == 0)

static int
line_key(const unsigned char *s, Py_ssize_t n)
{
    switch (n) {
    case 2:
        return IS("at") ? AT : IS("id") ? ID : -1;
    case 4:
        return IS("team") ? TEAM : -1;
    case 5:
        return IS("event") ? EVENT : -1;
    case 6:
        return IS("status") ? STATUS : -1;
    case 7:
        return IS("channel") ? CHANNEL : IS("purpose") ? PURPOSE : IS("outcome") ? OUTCOME : -1;
    case 8:
        return IS("campaign") ? CAMPAIGN : IS("customer") ? CUSTOMER : -1;
    }
    return -1;
}

/* One ledger line: a contact appended to the rows or an event to the events. Event lines
 * take only at, event, customer and id (as the typed path: a campaign on an event is the
 * validating path's), and their customer and id are only checked, as the typed path drops
 * them; a contact must name its channel, purpose and team. */
static int
line(Reader *r, const Vocabulary *vocabulary, Ledger *l)
{
    Row row;
    memset(&row, 0, sizeof row);
    PyObject *event = NULL;
    unsigned seen = 0;
    int status = REFUSE;
    const unsigned char *s;
    Py_ssize_t n;
    if (expect(r, '{'))
        return REFUSE;
    /* the fields' values go into `row` first: the line may still turn out to be an event */
    for (;;) {
        if (string(r, &s, &n) || expect(r, ':'))
            goto done;
        int field = line_key(s, n);
        if (field < 0 || (seen & BIT(field)))
            goto done; /* an unknown key, or a key given twice */
        seen |= BIT(field);
        int found;
        switch (field) {
        case AT:
            found = string(r, &s, &n) || instant(s, n, &row.us) ? REFUSE : 0;
            break;
        case CHANNEL:
            found = name(r, &vocabulary[V_CHANNELS], &row.field[CHANNEL]);
            break;
        case PURPOSE:
            found = name(r, &vocabulary[V_PURPOSES], &row.field[PURPOSE]);
            break;
        case TEAM:
            found = name(r, &vocabulary[V_TEAMS], &row.field[TEAM]);
            break;
        case STATUS:
            found = name(r, &vocabulary[V_STATUSES], &row.field[STATUS]);
            break;
        case OUTCOME:
            if (peek(r) == 'n') {
                found = literal(r, "null", 4);
                if (!found) {
                    Py_INCREF(Py_None);
                    row.field[OUTCOME] = Py_None;
                }
            }
            else
                found = name(r, &vocabulary[V_OUTCOMES], &row.field[OUTCOME]);
            break;
        case EVENT:
            found = string(r, &s, &n);
            if (!found && (event = lookup(&vocabulary[V_EVENTS], s, n)) == NULL)
                found = REFUSE;
            break;
        default: /* campaign, id, customer: a text or null */
            found = text_or_null(r, &row.field[field], 1);
        }
        if (found) {
            status = found;
            goto done;
        }
        int next = separator(r, '}');
        if (next < 0)
            goto done;
        if (next)
            break;
    }
    if (!(seen & BIT(AT)))
        goto done;
    if (seen & BIT(EVENT)) {
        if (seen & EVENT_ONLY_REFUSED)
            goto done;
        if (grow((void **)&l->events, l->events_size, &l->events_room, sizeof(Happened))) {
            status = -2;
            goto done;
        }
        l->events[l->events_size].name = event;
        l->events[l->events_size++].us = row.us;
        status = 0;
        goto done; /* its id and customer, checked, are dropped below */
    }
    if ((seen & (BIT(CHANNEL) | BIT(PURPOSE) | BIT(TEAM))) != (BIT(CHANNEL) | BIT(PURPOSE) | BIT(TEAM)))
        goto done;
    if (grow((void **)&l->rows, l->size, &l->room, sizeof(Row))) {
        status = -2;
        goto done;
    }
    for (int f = 0; f < ROW; f++)
        l->given[f] += row.field[f] != NULL;
    l->rows[l->size++] = row; /* the row's references now belong to the ledger */
    return 0;
done:
    for (int f = 0; f < ROW; f++)
        Py_XDECREF(row.field[f]);
    return status;
}

static int
ledger(Reader *r, const Vocabulary *vocabulary, Ledger *l)
{
    if (expect(r, '['))
        return REFUSE;
    if (peek(r) == ']') {
        r->p++;
        return 0;
    }
    for (;;) {
        int found = line(r, vocabulary, l);
        if (found)
            return found;
        int next = separator(r, ']');
        if (next != 0)
            return next > 0 ? 0 : REFUSE;
    }
}

/* ---- the request --------------------------------------------------------------------------- */

enum { R_TEAM, R_CHANNEL, R_PURPOSE, R_AT, R_CAMPAIGN, R_PRIORITY, R_ID, R_CUSTOMER, R_FIELDS };

typedef struct {
    PyObject *value[R_FIELDS]; /* new references; AT and CUSTOMER stay NULL */
    int64_t at;
} Request;

static int
request_key(const unsigned char *s, Py_ssize_t n)
{
    switch (n) {
    case 2:
        return IS("at") ? R_AT : IS("id") ? R_ID : -1;
    case 4:
        return IS("team") ? R_TEAM : -1;
    case 7:
        return IS("channel") ? R_CHANNEL : IS("purpose") ? R_PURPOSE : -1;
    case 8:
        return IS("campaign") ? R_CAMPAIGN : IS("customer") ? R_CUSTOMER : IS("priority") ? R_PRIORITY : -1;
    }
    return -1;
}

/* A priority: a JSON integer of at most 18 digits (a list, a fraction or an exponent is the
 * other paths'). A new reference, REFUSE, or -2 with an exception set. */
static int
priority(Reader *r, PyObject **out)
{
    blank(r);
    int negative = r->p < r->end && *r->p == '-';
    r->p += negative;
    const unsigned char *digits = r->p;
    if (!is_digit(r))
        return REFUSE;
    if (*r->p == '0')
        r->p++;
    else
        while (is_digit(r))
            r->p++;
    long long value = 0;
    if (r->p - digits > 18)
        return REFUSE;
    for (const unsigned char *d = digits; d < r->p; d++)
        value = value * 10 + (*d - '0');
    /* a fraction or exponent follows: not a whole number as JSON writes it */
    if (r->p < r->end && (*r->p == '.' || *r->p == 'e' || *r->p == 'E'))
        return REFUSE;
    *out = PyLong_FromLongLong(negative ? -value : value);
    return *out == NULL ? -2 : 0;
}

static int
request(Reader *r, const Vocabulary *vocabulary, Request *q)
{
    const unsigned char *s;
    Py_ssize_t n;
    unsigned seen = 0;
    if (expect(r, '{'))
        return REFUSE;
    for (;;) {
        if (string(r, &s, &n) || expect(r, ':'))
            return REFUSE;
        int field = request_key(s, n);
        if (field < 0 || (seen & BIT(field)))
            return REFUSE;
        seen |= BIT(field);
        int found;
        switch (field) {
        case R_TEAM:
            found = name(r, &vocabulary[V_TEAMS], &q->value[R_TEAM]);
            break;
        case R_CHANNEL:
            found = name(r, &vocabulary[V_CHANNELS], &q->value[R_CHANNEL]);
            break;
        case R_PURPOSE:
            found = name(r, &vocabulary[V_PURPOSES], &q->value[R_PURPOSE]);
            break;
        case R_AT:
            found = string(r, &s, &n) || instant(s, n, &q->at) ? REFUSE : 0;
            break;
        case R_PRIORITY:
            found = priority(r, &q->value[R_PRIORITY]);
            break;
        case R_CUSTOMER: /* read by no rule: only checked */
            found = text_or_null(r, NULL, 0);
            break;
        default: /* campaign (a list of texts is the other paths'), id */
            found = text_or_null(r, &q->value[field], 1);
        }
        if (found)
            return found;
        int next = separator(r, '}');
        if (next < 0)
            return REFUSE;
        if (next)
            break;
    }
    unsigned needed = BIT(R_TEAM) | BIT(R_CHANNEL) | BIT(R_PURPOSE) | BIT(R_AT);
    return (seen & needed) == needed ? 0 : REFUSE;
}

/* ---- the document -------------------------------------------------------------------------- */

static PyObject *column_names[ROW];

/* The contacts' columns as ingest.line_columns makes them: channel, purpose and team always;
 * another field only when some contact gives it, its default (status "sent", else None)
 * where a contact leaves it out. Steals the rows' references. */
static PyObject *
columns_of(Ledger *l, PyObject *sent)
{
    PyObject *columns = PyDict_New();
    if (columns == NULL)
        return NULL;
    for (int f = 0; f < ROW; f++) {
        if (l->size == 0 || (f > TEAM && l->given[f] == 0))
            continue;
        PyObject *column = PyList_New(l->size);
        if (column == NULL || PyDict_SetItem(columns, column_names[f], column)) {
            Py_XDECREF(column);
            Py_DECREF(columns);
            return NULL;
        }
        Py_DECREF(column); /* the dict holds it */
        PyObject *fill = f == STATUS ? sent : Py_None;
        for (Py_ssize_t k = 0; k < l->size; k++) {
            PyObject *value = l->rows[k].field[f];
            if (value == NULL) {
                value = fill;
                Py_INCREF(value);
            }
            l->rows[k].field[f] = NULL; /* moved into the column */
            PyList_SET_ITEM(column, k, value);
        }
    }
    return columns;
}

static PyObject *
micros_of(Ledger *l)
{
    PyObject *micros = PyList_New(l->size);
    for (Py_ssize_t k = 0; micros != NULL && k < l->size; k++) {
        PyObject *us = PyLong_FromLongLong(l->rows[k].us);
        if (us == NULL)
            Py_CLEAR(micros);
        else
            PyList_SET_ITEM(micros, k, us);
    }
    return micros;
}

static PyObject *
events_of(Ledger *l)
{
    PyObject *events = PyDict_New();
    for (Py_ssize_t k = 0; events != NULL && k < l->events_size; k++) {
        PyObject *times = PyDict_GetItemWithError(events, l->events[k].name); /* borrowed */
        if (times == NULL) {
            if (PyErr_Occurred() || (times = PyList_New(0)) == NULL) {
                Py_CLEAR(events);
                break;
            }
            int failed = PyDict_SetItem(events, l->events[k].name, times);
            Py_DECREF(times); /* the dict holds it */
            if (failed) {
                Py_CLEAR(events);
                break;
            }
        }
        PyObject *us = PyLong_FromLongLong(l->events[k].us);
        if (us == NULL || PyList_Append(times, us))
            Py_CLEAR(events);
        Py_XDECREF(us);
    }
    return events;
}

/* The vocabularies given by ingest.py (a tuple of VOCABULARIES tuples of (bytes, str) pairs),
 * checked and made into hash tables out[], which share one allocation (*block, the caller's
 * to free). Checked on every call: the look-ups trust the layout. -1 with an exception set. */
static int
vocabularies(PyObject *given, Vocabulary *out, void **block)
{
    Py_ssize_t names = 0, slots = 0;
    if (!PyTuple_CheckExact(given) || PyTuple_GET_SIZE(given) != VOCABULARIES)
        goto wrong;
    for (int v = 0; v < VOCABULARIES; v++) {
        PyObject *pairs = PyTuple_GET_ITEM(given, v);
        if (!PyTuple_CheckExact(pairs))
            goto wrong;
        Py_ssize_t count = PyTuple_GET_SIZE(pairs), size = 16;
        for (Py_ssize_t k = 0; k < count; k++) {
            PyObject *pair = PyTuple_GET_ITEM(pairs, k);
            if (!PyTuple_CheckExact(pair) || PyTuple_GET_SIZE(pair) != 2 ||
                !PyBytes_CheckExact(PyTuple_GET_ITEM(pair, 0)) || !PyUnicode_CheckExact(PyTuple_GET_ITEM(pair, 1)))
                goto wrong;
        }
        while (size < 4 * count) {
            if (size > PY_SSIZE_T_MAX / 4)
                goto wrong;
            size *= 2;
        }
        out[v].mask = (size_t)size - 1;
        names += count;
        slots += size;
    }
    *block = PyMem_Calloc(1, (size_t)names * sizeof(Name) + (size_t)slots * sizeof(Name *));
    if (*block == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    const Name **slot = (const Name **)*block;
    Name *next = (Name *)(slot + slots);
    for (int v = 0; v < VOCABULARIES; v++) {
        PyObject *pairs = PyTuple_GET_ITEM(given, v);
        out[v].slots = slot;
        slot += out[v].mask + 1;
        for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(pairs); k++, next++) {
            PyObject *pair = PyTuple_GET_ITEM(pairs, k);
            next->bytes = PyBytes_AS_STRING(PyTuple_GET_ITEM(pair, 0));
            next->size = PyBytes_GET_SIZE(PyTuple_GET_ITEM(pair, 0));
            next->name = PyTuple_GET_ITEM(pair, 1);
            size_t h = hash((const unsigned char *)next->bytes, next->size) & out[v].mask;
            while (out[v].slots[h] != NULL)
                h = (h + 1) & out[v].mask;
            out[v].slots[h] = next;
        }
    }
    return 0;
wrong:
    PyErr_SetString(PyExc_TypeError, "vocabulary: a tuple of 6 tuples of (bytes, str) pairs");
    return -1;
}

enum { D_CUSTOMER, D_REQUEST, D_LEDGER };

static PyObject *
scan(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "scan(document, vocabulary)");
        return NULL;
    }
    Vocabulary vocabulary[VOCABULARIES];
    void *names;
    if (vocabularies(args[1], vocabulary, &names))
        return NULL;
    const char *text;
    Py_ssize_t size;
    if (PyBytes_CheckExact(args[0])) {
        text = PyBytes_AS_STRING(args[0]);
        size = PyBytes_GET_SIZE(args[0]);
    }
    else if (PyUnicode_CheckExact(args[0])) {
        text = PyUnicode_AsUTF8AndSize(args[0], &size); /* no copy for an ASCII text */
        if (text == NULL) {                              /* a lone surrogate: no UTF-8 */
            PyErr_Clear();
            PyMem_Free(names);
            Py_RETURN_NONE;
        }
    }
    else {
        PyMem_Free(names);
        Py_RETURN_NONE;
    }

    Reader r = {(const unsigned char *)text, (const unsigned char *)text + size};
    Ledger l;
    memset(&l, 0, sizeof l);
    Request q;
    memset(&q, 0, sizeof q);
    const unsigned char *customer = NULL, *customer_end = NULL, *s;
    Py_ssize_t n;
    unsigned seen = 0;
    int found = expect(&r, '{');
    while (!found) {
        if (string(&r, &s, &n) || expect(&r, ':')) {
            found = REFUSE;
            break;
        }
        int part = IS("customer") ? D_CUSTOMER : IS("request") ? D_REQUEST : IS("ledger") ? D_LEDGER : -1;
        if (part < 0 || (seen & BIT(part))) {
            found = REFUSE;
            break;
        }
        seen |= BIT(part);
        if (part == D_CUSTOMER) {
            blank(&r);
            customer = r.p;
            found = skip_value(&r, 0);
            customer_end = r.p;
        }
        else if (part == D_REQUEST)
            found = request(&r, vocabulary, &q);
        else
            found = ledger(&r, vocabulary, &l);
        if (found)
            break;
        int next = separator(&r, '}');
        if (next < 0)
            found = REFUSE;
        else if (next)
            break;
    }
    if (!found && ((seen & (BIT(D_CUSTOMER) | BIT(D_REQUEST))) != (BIT(D_CUSTOMER) | BIT(D_REQUEST)) ||
                   peek(&r) != -1))
        found = REFUSE; /* a part missing, or something after the document */

    PyObject *result = NULL;
    if (!found) {
        PyObject *sent = lookup(&vocabulary[V_STATUSES], (const unsigned char *)"sent", 4);
        PyObject *columns = sent == NULL ? NULL : columns_of(&l, sent);
        PyObject *micros = columns == NULL ? NULL : micros_of(&l);
        PyObject *events = micros == NULL ? NULL : events_of(&l);
        PyObject *raw = events == NULL ? NULL
                                       : PyBytes_FromStringAndSize((const char *)customer, customer_end - customer);
        if (sent == NULL && !PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "vocabulary: the statuses hold no \"sent\"");
        if (raw != NULL) {
            /* the request's fields, None where left out (the team, channel and purpose never are) */
            PyObject *fields[R_FIELDS];
            for (int f = 0; f < R_FIELDS; f++)
                fields[f] = q.value[f] != NULL ? q.value[f] : Py_None;
            result = Py_BuildValue("(NNNN(OOOLOOO))", columns, micros, events, raw, fields[R_TEAM],
                                   fields[R_CHANNEL], fields[R_PURPOSE], (long long)q.at, fields[R_CAMPAIGN],
                                   fields[R_PRIORITY], fields[R_ID]);
            columns = micros = events = NULL; /* Py_BuildValue took them ("N"), even on failure */
        }
        Py_XDECREF(columns);
        Py_XDECREF(micros);
        Py_XDECREF(events);
    }
    ledger_free(&l);
    PyMem_Free(names);
    for (int f = 0; f < R_FIELDS; f++)
        Py_XDECREF(q.value[f]);
    if (found == -2 || (!found && result == NULL))
        return NULL; /* out of memory: the exception is set */
    if (found)
        Py_RETURN_NONE;
    return result;
}

static PyMethodDef methods[] = {
    {"scan", (PyCFunction)(void (*)(void))scan, METH_FASTCALL,
     "scan(document, vocabulary) -> (columns, micros, events, customer bytes, request fields) or None.\n\n"
     "The section 10 document read straight into the evaluator's columns; None for anything outside\n"
     "the strict subset this reader takes (ingest.decide_json then takes the other paths)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef definition = {
    PyModuleDef_HEAD_INIT,
    .m_name = "policylang._scan",
    .m_doc = "Section 10 documents read straight into columns.",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC
PyInit__scan(void)
{
    for (int c = 0x20; c < 0x80; c++)
        PLAIN[c] = c != '"' && c != '\\';
    for (int f = 0; f < ROW; f++)
        if (column_names[f] == NULL && (column_names[f] = PyUnicode_InternFromString(COLUMN_NAMES[f])) == NULL)
            return NULL;
    PyObject *module = PyModule_Create(&definition);
    if (module == NULL)
        return NULL;
    PyObject *years = Py_BuildValue("(ii)", FIRST_LOCAL_YEAR, LAST_LOCAL_YEAR);
    int failed = years == NULL || PyModule_AddObjectRef(module, "YEARS", years) < 0;
    Py_XDECREF(years);
    if (failed) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
