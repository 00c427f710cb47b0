/* fuzz_openai.c - libFuzzer target: what psyche serve holds back of streamed
 * text while tools are offered (psy_oai_tool_safe in psyche/openai.c, linked
 * as it is) and its stop-sequence scan. The held position lies in the text,
 * starts at an ASCII byte, is where a second scan from it stops again, and
 * never moves back as the text grows (nothing shown is taken back). */
#include <stdint.h>
#include <stdlib.h>

#include "../../psyche/openai.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *t = (const char *)data;
    for (size_t i = 0; i < size; i++)
        if (!data[i]) return 0; /* streamed text is a C string */
    size_t safe = psy_oai_tool_safe(t, size, 0);
    if (safe > size) abort();
    if (safe < size && data[safe] >= 0x80) abort();
    if (psy_oai_tool_safe(t, size, safe) != safe) abort();
    for (size_t k = 1; k <= 3; k++) {
        size_t part = size * k / 4;
        if (psy_oai_tool_safe(t, part, 0) > safe) abort();
    }
    char *stops[] = {"END", "\n\n"};
    size_t cut = 0, ssafe = 0;
    if (psy_oai_find_stop(t, size, stops, 2, &cut, &ssafe) ? cut > size : ssafe > size) abort();
    return 0;
}
