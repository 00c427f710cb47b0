/* utf8.c - UTF-8 decoding, counting, cutting and display width (see utf8.h).
 *
 * Owns the one decoder of the project and the width tables. Pure functions:
 * no allocation (except into a caller's buf), no locale, no global state. */
#include "utf8.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#include "buf.h"

#define CONT_MASK 0xC0u /* continuation bytes are 10xxxxxx */
#define CONT_TAG 0x80u
#define CONT_BITS 0x3Fu
#define SURROGATE_FIRST 0xD800u
#define SURROGATE_LAST 0xDFFFu

bool utf8_is_scalar(uint32_t cp) { return cp <= UTF8_MAX_CP && (cp < SURROGATE_FIRST || cp > SURROGATE_LAST); }

/* For a lead byte: the sequence length and the smallest code point that
 * length may encode (shorter would be an overlong form); 0 for a byte that
 * cannot start a sequence (a continuation byte, 0xC0, 0xC1, 0xF5..0xFF). */
static size_t lead_len(unsigned char c, uint32_t *bits, uint32_t *min)
{
    static const struct {
        unsigned char first, last, mask;
        uint32_t min;
        size_t len;
    } leads[] = {
        {0x00, 0x7F, 0x7F, 0, 1},
        {0xC2, 0xDF, 0x1F, 0x80, 2},
        {0xE0, 0xEF, 0x0F, 0x800, 3},
        {0xF0, 0xF4, 0x07, 0x10000, 4},
    };
    for (size_t i = 0; i < sizeof leads / sizeof leads[0]; i++)
        if (c >= leads[i].first && c <= leads[i].last) {
            *bits = c & leads[i].mask;
            *min = leads[i].min;
            return leads[i].len;
        }
    return 0;
}

ssize_t utf8_decode(const char *s, size_t n, uint32_t *cp)
{
    const unsigned char *p = (const unsigned char *)s;
    *cp = UTF8_REPLACEMENT;
    if (n == 0) return -ENODATA;
    uint32_t v, min;
    size_t len = lead_len(p[0], &v, &min);
    if (len == 0) return -EILSEQ;
    for (size_t k = 1; k < len; k++) {
        if (k >= n) return -ENODATA;
        if ((p[k] & CONT_MASK) != CONT_TAG) return -EILSEQ;
        v = (v << 6) | (p[k] & CONT_BITS);
        /* Reject overlong and out-of-range forms as soon as the second byte
         * decides them, so a truncated "\xE0\x80" is invalid, not incomplete. */
        if (k == 1 && len >= 3) {
            uint32_t top = v << (6 * (len - 2)); /* the smallest value with this prefix */
            if (top + ((1u << (6 * (len - 2))) - 1) < min || top > UTF8_MAX_CP ||
                (len == 3 && top >= SURROGATE_FIRST && top <= SURROGATE_LAST))
                return -EILSEQ;
        }
    }
    if (v < min || !utf8_is_scalar(v)) return -EILSEQ;
    *cp = v;
    return (ssize_t)len;
}

size_t utf8_encode(uint32_t cp, char *out)
{
    if (!utf8_is_scalar(cp)) cp = UTF8_REPLACEMENT;
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0u | (cp >> 6));
        out[1] = (char)(CONT_TAG | (cp & CONT_BITS));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0u | (cp >> 12));
        out[1] = (char)(CONT_TAG | ((cp >> 6) & CONT_BITS));
        out[2] = (char)(CONT_TAG | (cp & CONT_BITS));
        return 3;
    }
    out[0] = (char)(0xF0u | (cp >> 18));
    out[1] = (char)(CONT_TAG | ((cp >> 12) & CONT_BITS));
    out[2] = (char)(CONT_TAG | ((cp >> 6) & CONT_BITS));
    out[3] = (char)(CONT_TAG | (cp & CONT_BITS));
    return 4;
}

/* Length of the character at s[0..n): a valid sequence, or 1 for an
 * invalid or incomplete one (it shows as one U+FFFD). n > 0. */
static size_t step(const char *s, size_t n, uint32_t *cp)
{
    ssize_t l = utf8_decode(s, n, cp);
    return l > 0 ? (size_t)l : 1;
}

bool utf8_valid(const char *s, size_t n)
{
    size_t i = 0;
    uint32_t cp;
    while (i < n) {
        ssize_t l = utf8_decode(s + i, n - i, &cp);
        if (l < 0) return false;
        i += (size_t)l;
    }
    return true;
}

size_t utf8_count(const char *s, size_t n)
{
    size_t i = 0, k = 0;
    uint32_t cp;
    while (i < n) i += step(s + i, n - i, &cp), k++;
    return k;
}

size_t utf8_complete_prefix(const char *s, size_t n)
{
    /* Only the last UTF8_MAX_SEQ - 1 bytes can start an incomplete sequence. */
    size_t from = n > UTF8_MAX_SEQ - 1 ? n - (UTF8_MAX_SEQ - 1) : 0;
    uint32_t cp;
    for (size_t i = from; i < n; i++)
        if (utf8_decode(s + i, n - i, &cp) == -ENODATA) return i;
    return n;
}

size_t utf8_truncate_bytes(const char *s, size_t n, size_t max_bytes)
{
    if (n <= max_bytes) return n;
    size_t i = 0;
    uint32_t cp;
    for (;;) {
        size_t l = step(s + i, n - i, &cp);
        if (i + l > max_bytes) return i;
        i += l;
    }
}

int utf8_append_cut(buf *out, const char *s, size_t n, size_t max_bytes, const char *mark)
{
    size_t keep = utf8_truncate_bytes(s, n, max_bytes);
    if (buf_append(out, s, keep)) return -ENOMEM;
    if (keep < n && mark && buf_puts(out, mark)) return -ENOMEM;
    return 0;
}

int utf8_prec(const char *s, size_t max)
{
    if (max > INT_MAX - UTF8_MAX_SEQ) max = INT_MAX - UTF8_MAX_SEQ;
    /* the whole character that crosses max, so it is seen as one and left out */
    return (int)utf8_truncate_bytes(s, strnlen(s, max + UTF8_MAX_SEQ), max);
}

size_t utf8_trim_partial(char *s)
{
    size_t n = utf8_complete_prefix(s, strlen(s));
    s[n] = '\0';
    return n;
}

size_t utf8_truncate_chars(const char *s, size_t n, size_t max_chars)
{
    size_t i = 0, k = 0;
    uint32_t cp;
    while (i < n && k < max_chars) i += step(s + i, n - i, &cp), k++;
    return i;
}

size_t utf8_truncate_width(const char *s, size_t n, size_t max_cols)
{
    size_t i = 0, cols = 0;
    while (i < n) {
        uint32_t cp;
        size_t l = step(s + i, n - i, &cp);
        size_t w = (size_t)utf8_cp_width(cp);
        if (cols + w > max_cols) break;
        cols += w;
        i += l;
    }
    return i;
}

size_t utf8_width(const char *s, size_t n)
{
    size_t i = 0, cols = 0;
    while (i < n) {
        uint32_t cp;
        i += step(s + i, n - i, &cp);
        cols += (size_t)utf8_cp_width(cp);
    }
    return cols;
}

int utf8_append_sanitized(buf *out, const char *s, size_t n, bool final, size_t *used)
{
    static const char repl[] = "\xEF\xBF\xBD"; /* U+FFFD */
    size_t i = 0, run = 0;                     /* run: start of the pending valid stretch */
    int rc = 0;
    *used = 0;
    while (i < n) {
        uint32_t cp;
        ssize_t l = utf8_decode(s + i, n - i, &cp);
        if (l > 0) {
            i += (size_t)l;
            continue;
        }
        if (l == -ENODATA && !final) break; /* incomplete tail: keep for later */
        if ((rc = buf_append(out, s + run, i - run)) || (rc = buf_append(out, repl, sizeof repl - 1))) return rc;
        *used = ++i;
        run = i;
    }
    if ((rc = buf_append(out, s + run, i - run))) return rc;
    *used = i;
    return 0;
}

/* ------------------------------------------------------------- widths */

typedef struct cp_range {
    uint32_t first, last;
} cp_range;

/* Zero columns: combining marks (Mn, Me), format characters (Cf) and the
 * Hangul medial and final jamo that join with the syllable before them. */
static const cp_range zero_width[] = {
    {0x0300, 0x036F},   {0x0483, 0x0489},   {0x0591, 0x05BD},   {0x05BF, 0x05BF},   {0x05C1, 0x05C2},
    {0x05C4, 0x05C5},   {0x05C7, 0x05C7},   {0x0600, 0x0605},   {0x0610, 0x061A},   {0x061C, 0x061C},
    {0x064B, 0x065F},   {0x0670, 0x0670},   {0x06D6, 0x06DD},   {0x06DF, 0x06E4},   {0x06E7, 0x06E8},
    {0x06EA, 0x06ED},   {0x070F, 0x070F},   {0x0711, 0x0711},   {0x0730, 0x074A},   {0x07A6, 0x07B0},
    {0x07EB, 0x07F3},   {0x0816, 0x0819},   {0x081B, 0x0823},   {0x0825, 0x0827},   {0x0829, 0x082D},
    {0x0859, 0x085B},   {0x08D3, 0x0902},   {0x093A, 0x093A},   {0x093C, 0x093C},   {0x0941, 0x0948},
    {0x094D, 0x094D},   {0x0951, 0x0957},   {0x0962, 0x0963},   {0x0981, 0x0981},   {0x09BC, 0x09BC},
    {0x09C1, 0x09C4},   {0x09CD, 0x09CD},   {0x09E2, 0x09E3},   {0x0A01, 0x0A02},   {0x0A3C, 0x0A3C},
    {0x0A41, 0x0A51},   {0x0A70, 0x0A71},   {0x0A75, 0x0A75},   {0x0A81, 0x0A82},   {0x0ABC, 0x0ABC},
    {0x0AC1, 0x0AC8},   {0x0ACD, 0x0ACD},   {0x0AE2, 0x0AE3},   {0x0B01, 0x0B01},   {0x0B3C, 0x0B3C},
    {0x0B3F, 0x0B3F},   {0x0B41, 0x0B44},   {0x0B4D, 0x0B4D},   {0x0B56, 0x0B56},   {0x0B62, 0x0B63},
    {0x0B82, 0x0B82},   {0x0BC0, 0x0BC0},   {0x0BCD, 0x0BCD},   {0x0C00, 0x0C00},   {0x0C3E, 0x0C40},
    {0x0C46, 0x0C56},   {0x0C62, 0x0C63},   {0x0CBC, 0x0CBC},   {0x0CCC, 0x0CCD},   {0x0CE2, 0x0CE3},
    {0x0D41, 0x0D44},   {0x0D4D, 0x0D4D},   {0x0D62, 0x0D63},   {0x0DCA, 0x0DCA},   {0x0DD2, 0x0DD6},
    {0x0E31, 0x0E31},   {0x0E34, 0x0E3A},   {0x0E47, 0x0E4E},   {0x0EB1, 0x0EB1},   {0x0EB4, 0x0EBC},
    {0x0EC8, 0x0ECD},   {0x0F18, 0x0F19},   {0x0F35, 0x0F35},   {0x0F37, 0x0F37},   {0x0F39, 0x0F39},
    {0x0F71, 0x0F7E},   {0x0F80, 0x0F84},   {0x0F86, 0x0F87},   {0x0F8D, 0x0FBC},   {0x0FC6, 0x0FC6},
    {0x102D, 0x1030},   {0x1032, 0x1037},   {0x1039, 0x103A},   {0x103D, 0x103E},   {0x1058, 0x1059},
    {0x1160, 0x11FF},   {0x135D, 0x135F},   {0x1712, 0x1714},   {0x1732, 0x1734},   {0x1752, 0x1753},
    {0x1772, 0x1773},   {0x17B4, 0x17B5},   {0x17B7, 0x17BD},   {0x17C6, 0x17C6},   {0x17C9, 0x17D3},
    {0x17DD, 0x17DD},   {0x180B, 0x180E},   {0x18A9, 0x18A9},   {0x1920, 0x1922},   {0x1927, 0x1928},
    {0x1932, 0x1932},   {0x1939, 0x193B},   {0x1A17, 0x1A18},   {0x1A1B, 0x1A1B},   {0x1A56, 0x1A56},
    {0x1A58, 0x1A7F},   {0x1AB0, 0x1AFF},   {0x1B00, 0x1B03},   {0x1B34, 0x1B34},   {0x1B36, 0x1B3A},
    {0x1B6B, 0x1B73},   {0x1DC0, 0x1DFF},   {0x200B, 0x200F},   {0x202A, 0x202E},   {0x2060, 0x2064},
    {0x2066, 0x206F},   {0x20D0, 0x20F0},   {0x2CEF, 0x2CF1},   {0x2D7F, 0x2D7F},   {0x2DE0, 0x2DFF},
    {0x302A, 0x302D},   {0x3099, 0x309A},   {0xA66F, 0xA672},   {0xA674, 0xA67D},   {0xA69E, 0xA69F},
    {0xA6F0, 0xA6F1},   {0xA802, 0xA802},   {0xA806, 0xA806},   {0xA80B, 0xA80B},   {0xA825, 0xA826},
    {0xA8C4, 0xA8C5},   {0xA8E0, 0xA8F1},   {0xA926, 0xA92D},   {0xA947, 0xA951},   {0xD7B0, 0xD7FF},
    {0xFB1E, 0xFB1E},   {0xFE00, 0xFE0F},   {0xFE20, 0xFE2F},   {0xFEFF, 0xFEFF},   {0xFFF9, 0xFFFB},
    {0x101FD, 0x101FD}, {0x10A01, 0x10A0F}, {0x10A38, 0x10A3F}, {0x11001, 0x11001}, {0x11038, 0x11046},
    {0x1D167, 0x1D169}, {0x1D173, 0x1D182}, {0x1D185, 0x1D18B}, {0x1D1AA, 0x1D1AD}, {0x1F3FB, 0x1F3FF},
    {0xE0001, 0xE0001}, {0xE0020, 0xE007F}, {0xE0100, 0xE01EF},
};

/* Two columns: East Asian Wide and Fullwidth, emoji presentation. */
static const cp_range wide[] = {
    {0x1100, 0x115F},   {0x231A, 0x231B},   {0x2329, 0x232A},   {0x23E9, 0x23EC},   {0x23F0, 0x23F0},
    {0x23F3, 0x23F3},   {0x25FD, 0x25FE},   {0x2614, 0x2615},   {0x2648, 0x2653},   {0x267F, 0x267F},
    {0x2693, 0x2693},   {0x26A1, 0x26A1},   {0x26AA, 0x26AB},   {0x26BD, 0x26BE},   {0x26C4, 0x26C5},
    {0x26CE, 0x26CE},   {0x26D4, 0x26D4},   {0x26EA, 0x26EA},   {0x26F2, 0x26F3},   {0x26F5, 0x26F5},
    {0x26FA, 0x26FA},   {0x26FD, 0x26FD},   {0x2705, 0x2705},   {0x270A, 0x270B},   {0x2728, 0x2728},
    {0x274C, 0x274C},   {0x274E, 0x274E},   {0x2753, 0x2755},   {0x2757, 0x2757},   {0x2795, 0x2797},
    {0x27B0, 0x27B0},   {0x27BF, 0x27BF},   {0x2B1B, 0x2B1C},   {0x2B50, 0x2B50},   {0x2B55, 0x2B55},
    {0x2E80, 0x303E},   {0x3041, 0x3247},   {0x3250, 0x4DBF},   {0x4E00, 0xA4CF},   {0xA960, 0xA97F},
    {0xAC00, 0xD7A3},   {0xF900, 0xFAFF},   {0xFE10, 0xFE19},   {0xFE30, 0xFE6F},   {0xFF00, 0xFF60},
    {0xFFE0, 0xFFE6},   {0x16FE0, 0x16FE4}, {0x17000, 0x18CFF}, {0x1B000, 0x1B2FF}, {0x1F004, 0x1F004},
    {0x1F0CF, 0x1F0CF}, {0x1F18E, 0x1F18E}, {0x1F191, 0x1F19A}, {0x1F200, 0x1F202}, {0x1F210, 0x1F23B},
    {0x1F240, 0x1F248}, {0x1F250, 0x1F251}, {0x1F260, 0x1F265}, {0x1F300, 0x1F320}, {0x1F32D, 0x1F335},
    {0x1F337, 0x1F37C}, {0x1F37E, 0x1F393}, {0x1F3A0, 0x1F3CA}, {0x1F3CF, 0x1F3D3}, {0x1F3E0, 0x1F3F0},
    {0x1F3F4, 0x1F3F4}, {0x1F3F8, 0x1F43E}, {0x1F440, 0x1F440}, {0x1F442, 0x1F4FC}, {0x1F4FF, 0x1F53D},
    {0x1F54B, 0x1F54E}, {0x1F550, 0x1F567}, {0x1F57A, 0x1F57A}, {0x1F595, 0x1F596}, {0x1F5A4, 0x1F5A4},
    {0x1F5FB, 0x1F64F}, {0x1F680, 0x1F6C5}, {0x1F6CC, 0x1F6CC}, {0x1F6D0, 0x1F6D2}, {0x1F6D5, 0x1F6D7},
    {0x1F6EB, 0x1F6EC}, {0x1F6F4, 0x1F6FC}, {0x1F7E0, 0x1F7EB}, {0x1F90C, 0x1F93A}, {0x1F93C, 0x1F945},
    {0x1F947, 0x1F9FF}, {0x1FA70, 0x1FAFF}, {0x20000, 0x2FFFD}, {0x30000, 0x3FFFD},
};

static bool in_table(uint32_t cp, const cp_range *t, size_t n)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < t[mid].first) hi = mid;
        else if (cp > t[mid].last) lo = mid + 1;
        else return true;
    }
    return false;
}

int utf8_cp_width(uint32_t cp)
{
    if (cp >= 0x20 && cp < 0x7F) return 1;
    if (cp < 0x20 || (cp >= 0x7F && cp < 0xA0)) return 0; /* C0 and C1 controls */
    if (in_table(cp, zero_width, sizeof zero_width / sizeof zero_width[0])) return 0;
    if (in_table(cp, wide, sizeof wide / sizeof wide[0])) return 2;
    return 1;
}
