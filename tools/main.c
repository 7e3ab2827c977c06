/* smelt CLI entry point: dispatches subcommands. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char *USAGE =
    "usage: smelt <command> [options]\n"
    "\n"
    "commands:\n"
    "  pull NAME            fetch a known model into the cache (smelt pull --list)\n"
    "  inspect MODEL        print GGUF metadata and the tensor table\n"
    "  tokenize -m MODEL    tokenize stdin (--ids: one id per line; --no-bos; --no-parse-special)\n"
    "  run -m MODEL -p PROMPT [-n N] [--temp T] [--seed S] [-t THREADS] [-c CTX] [--raw]\n"
    "                       answer a prompt (chat template applied unless --raw), streamed to stdout\n"
    "  chat -m MODEL        interactive chat (/reset, /quit)\n"
    "  bench -m MODEL [-p 512] [-n 128] [-r 5] [-t N] [--json]\n"
    "                       prompt processing and generation speed\n"
    "  perplexity -m MODEL -f TEXT [-c 512] [--chunks N] [--kl-divergence-base FILE [--kl-divergence]]\n"
    "                       perplexity, scoring the second half of each chunk like llama.cpp;\n"
    "                       with a base file: save log-probs, or compare against them (KLD stats)\n"
    "  quantize [--imatrix FILE | --calib TEXT] [--allow-requantize] [--pure] [--ref]\n"
    "           [--output-tensor-type T] [--token-embedding-type T] [-t N] IN.gguf OUT.gguf TYPE\n"
    "                       rewrite a model in another type with llama.cpp's per-tensor mixes\n"
    "                       (self-calibrated and error-fed by default; smelt quantize for all options); TYPE:\n"
    "                       F32 F16 BF16 Q8_0 Q6_K Q5_K_M Q5_K_S Q5_0 Q5_1 Q4_K_M Q4_K_S Q4_0 Q4_1\n"
    "                       Q3_K_L Q3_K_M Q3_K_S Q2_K IQ4_NL IQ4_XS\n"
    "  imatrix -m MODEL -f TEXT -o imatrix.gguf [-c 512] [--chunks N] [--process-output]\n"
    "                       importance matrix (llama.cpp's GGUF format) for quantize --imatrix\n"
    "\n"
    "MODEL is a .gguf path or a known name (smollm2-135m, gemma3-270m); default smollm2-135m.\n"
    "sampling: --temp 0.8 --top-k 40 --top-p 0.95 --min-p 0.05 --repeat-penalty 1.0\n"
    "          --repeat-last-n 64 --presence-penalty 0 --frequency-penalty 0 -s SEED (-1 random)\n"
    "          -r/--stop STRING (repeatable) --ignore-eos -sys/--system-prompt TEXT -f FILE\n";

int main(int argc, char **argv) {
    if (argc < 2) {
        fputs(USAGE, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(USAGE, stdout);
            return 0;
        }
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        fputs(USAGE, stdout);
        return 0;
    }
    if (!strcmp(cmd, "pull")) return cmd_pull(argc, argv);
    if (!strcmp(cmd, "inspect")) return cmd_inspect(argc, argv);
    if (!strcmp(cmd, "tokenize")) return cmd_tokenize(argc, argv);
    if (!strcmp(cmd, "run")) return cmd_run(argc, argv);
    if (!strcmp(cmd, "chat")) return cmd_chat(argc, argv);
    if (!strcmp(cmd, "bench")) return cmd_bench(argc, argv);
    if (!strcmp(cmd, "perplexity")) return cmd_perplexity(argc, argv);
    if (!strcmp(cmd, "quantize")) return cmd_quantize(argc, argv);
    if (!strcmp(cmd, "imatrix")) return cmd_imatrix(argc, argv);
    cli_error("unknown command '%s'", cmd);
    fputs(USAGE, stderr);
    return 2;
}
